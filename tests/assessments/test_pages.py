"""Run pages: start an assessment from the form, watch the live fragment, read results; roles and tenancy hold."""

from __future__ import annotations

import pytest
from django.urls import reverse

from riskapp.assessments.models import AssessmentRun, CheckResult, RunStatus
from riskapp.assessments.services import run_create
from tests.assessments.factories import builtin_profile

pytestmark = pytest.mark.django_db


def _client_for(client, user):
    client.force_login(user)
    return client


def _succeeded_run(asset, owner, *, unreliable=False):
    run = run_create(asset=asset, profile=builtin_profile("quick"), user=owner, seed=1)
    metrics = {"clean_accuracy": 0.98, "robust_accuracy": 0.45, "reference_epsilon": 0.1, "breaking_epsilon": 0.2,
               "curves": {"fgsm": [[0.05, 0.8], [0.1, 0.6]], "pgd": [[0.05, 0.7], [0.1, 0.45]],
                          "worst_case": [[0.05, 0.7], [0.1, 0.45]]}}
    CheckResult.objects.create(run=run, order=0, kind="evasion.whitebox", status="passed", metrics=metrics,
                               thresholds={"robust_accuracy": {"min": 0.3}}, verdict="All thresholds met.",
                               parameters={"pgd_max_iter": 10, "epsilons": [0.05, 0.1]})
    AssessmentRun.objects.filter(pk=run.pk).update(
        status=RunStatus.SUCCEEDED, progress=100, passed=not unreliable, unreliable=unreliable,
        unreliable_reasons=["accuracy at ε=1 is 0.9, far above chance"] if unreliable else [],
        summary={"clean_accuracy": 0.98, "robust_accuracy": 0.45, "reference_epsilon": 0.1,
                 "breaking_epsilon": 0.2, "checks": {"passed": 1}})
    return AssessmentRun.objects.get(pk=run.pk)


def test_analyst_starts_an_assessment_from_the_form(client, member, asset, published,
                                                    django_capture_on_commit_callbacks):
    client = _client_for(client, member)
    page = client.get(reverse("assessments:create", args=[asset.pk]))
    assert page.status_code == 200 and b"Run assessment" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("assessments:create", args=[asset.pk]), {
            "profile": builtin_profile("quick").pk, "version": asset.current_version_id,
            "evaluation_dataset": asset.evaluation_dataset_id, "seed": 7})
    run = AssessmentRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("assessments:detail", args=[run.pk])
    assert run.seed == 7 and run.requested_by == member
    assert published == [{"args": [run.pk], "queue": "assess-cpu"}]


def test_viewer_cannot_start_an_assessment(client, viewer, asset, published):
    client = _client_for(client, viewer)
    response = client.post(reverse("assessments:create", args=[asset.pk]),
                           {"profile": builtin_profile("quick").pk, "version": asset.current_version_id,
                            "evaluation_dataset": asset.evaluation_dataset_id, "seed": 0})
    assert response.status_code == 403
    assert not AssessmentRun.objects.exists()


def test_a_queued_run_page_polls_and_a_finished_fragment_stops_polling(client, owner, asset, published):
    run = run_create(asset=asset, profile=builtin_profile("quick"), user=owner)
    client = _client_for(client, owner)
    page = client.get(reverse("assessments:detail", args=[run.pk]))
    progress_url = reverse("assessments:progress", args=[run.pk])
    assert f'data-poll-url="{progress_url}"'.encode() in page.content

    AssessmentRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, progress=37,
                                                   current_step="evasion.whitebox: PGD ε=0.1 (L∞)")
    fragment = client.get(progress_url)
    assert b"data-poll-url" in fragment.content and b"37%" in fragment.content and "PGD ε=0.1".encode() in fragment.content

    AssessmentRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="worker stopped responding at 12:00")
    fragment = client.get(progress_url)
    assert b"data-poll-url" not in fragment.content
    assert b"worker stopped responding at 12:00" in fragment.content


def test_results_page_shows_the_curve_tables_parameters_and_guidance(client, owner, asset, published):
    run = _succeeded_run(asset, owner)
    client = _client_for(client, owner)
    page = client.get(reverse("assessments:detail", args=[run.pk])).content.decode()
    assert "data-poll-url" not in page
    assert "<svg" in page and "PGD (L∞)" in page and "Worst case (L∞)" in page
    assert "White-box evasion (FGSM, PGD)" in page  # the engine's own title for the check
    assert "What is ε?" in page
    assert "robust accuracy" in page and "≥ 0.3" in page
    assert "&quot;pgd_max_iter&quot;: 10" in page  # every parameter used
    assert "Re-run with the same parameters" in page
    assert "Evaluation unreliable" not in page


def test_unreliable_run_shows_the_banner_with_reasons(client, owner, asset, published):
    run = _succeeded_run(asset, owner, unreliable=True)
    page = _client_for(client, owner).get(reverse("assessments:detail", args=[run.pk])).content.decode()
    assert 'data-testid="unreliable-banner"' in page
    assert "far above chance" in page


def test_rerun_and_cancel_buttons_work_from_the_page(client, owner, asset, published):
    run = run_create(asset=asset, profile=builtin_profile("quick"), user=owner, seed=5)
    client = _client_for(client, owner)
    response = client.post(reverse("assessments:cancel", args=[run.pk]))
    assert response.status_code == 302
    assert AssessmentRun.objects.get(pk=run.pk).status == RunStatus.CANCELLED
    response = client.post(reverse("assessments:rerun", args=[run.pk]))
    again = AssessmentRun.objects.exclude(pk=run.pk).get()
    assert response["Location"] == reverse("assessments:detail", args=[again.pk])
    assert again.seed == 5 and again.rerun_of_id == run.pk


def test_runs_list_shows_runs_and_filters_by_status(client, owner, asset, published):
    run = _succeeded_run(asset, owner)
    client = _client_for(client, owner)
    page = client.get(reverse("assessments:list")).content.decode()
    assert f"#{run.pk}" in page and "0.450" in page
    page = client.get(reverse("assessments:list") + "?status=queued").content.decode()
    assert f"#{run.pk}" not in page and "No assessments match this filter" in page


def test_outsider_gets_404_on_run_pages_and_sees_no_runs(outsider_client, owner, asset, published):
    run = _succeeded_run(asset, owner)
    for name in ("assessments:detail", "assessments:progress"):
        assert outsider_client.get(reverse(name, args=[run.pk])).status_code == 404
    for name in ("assessments:cancel", "assessments:rerun"):
        assert outsider_client.post(reverse(name, args=[run.pk])).status_code == 404
    assert outsider_client.get(reverse("assessments:create", args=[asset.pk])).status_code == 404
    assert f"#{run.pk}".encode() not in outsider_client.get(reverse("assessments:list")).content


def test_asset_page_offers_run_assessment(client, owner, asset):
    from riskapp.assessments.hooks import ASSET_SECTION_TEMPLATE
    from riskapp.assets.views import ASSET_DETAIL_SECTIONS

    assert ASSET_SECTION_TEMPLATE in [template for template, _ in ASSET_DETAIL_SECTIONS]
    page = _client_for(client, owner).get(reverse("assets:detail", args=[asset.pk]))
    assert page.status_code == 200
    assert b'data-testid="asset-assessments"' in page.content and b"Run assessment" in page.content


def test_a_real_quick_run_renders_every_check_with_the_engines_numbers(client, owner, asset, published):
    from riskapp.assessments.services import run_execute
    from workers.engine.checks import CHECKS

    run = run_create(asset=asset, profile=builtin_profile("quick"), user=owner)
    run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    page = _client_for(client, owner).get(reverse("assessments:detail", args=[run.pk])).content.decode()
    for check in run.checks.all():
        assert f'data-testid="check-{check.kind}"' in page
        assert CHECKS[check.kind].TITLE in page
    assert f"{run.summary['robust_accuracy']:.1%}" in page
    assert page.count("<svg") >= 1 and "Worst case (L∞)" in page


def test_the_numbers_behind_the_curve_are_in_a_table(client, owner, asset, published):
    run = _succeeded_run(asset, owner)
    check = run.checks.get(kind="evasion.whitebox")
    check.metrics["attacks"] = {"pgd": {"norm": "inf", "points": [
        {"epsilon": 0.1, "robust_accuracy": 0.45, "attack_success_rate": 0.54, "median_perturbation": 0.1}]}}
    check.save()
    page = _client_for(client, owner).get(reverse("assessments:detail", args=[run.pk])).content.decode()
    assert "Accuracy per attack and ε" in page
    assert "<td>PGD (L∞)</td><td class=\"num\">0.1</td><td class=\"num\">45.0%</td><td class=\"num\">54.0%</td>" in page


def test_profiles_page_shows_builtins_and_own_custom_profiles_only(client, owner, organization, other_organization):
    from tests.assessments.factories import custom_profile

    custom_profile(organization, slug="ours")
    custom_profile(other_organization, slug="theirs")
    page = _client_for(client, owner).get(reverse("assessments:profiles")).content.decode()
    assert 'data-testid="profile-quick"' in page and 'data-testid="profile-ours"' in page
    assert 'data-testid="profile-theirs"' not in page
    assert "robust accuracy ≥ 0.3" in page and "White-box evasion (FGSM, PGD)" in page
