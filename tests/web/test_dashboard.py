"""The dashboard: every panel shows the organization's real numbers, links to their source, costs a constant number
of queries whatever the number of assets, shows nothing of another organization, and stops polling when idle."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from riskapp.assessments.models import AssessmentRun, RunStatus
from tests.monitoring.factories import make_alert, make_asset, make_profile, make_run, whitebox_metrics

pytestmark = pytest.mark.django_db


def _populate(organization, user, n_assets: int, *, start: int = 0) -> None:
    """n assets, each with a finished run (summary + evidence), a schedule; one running run; one alert."""
    from riskapp.compliance.services import evidence_record_for_run
    from riskapp.monitoring.services import schedule_create

    profile = make_profile(organization)
    for i in range(start, start + n_assets):
        asset = make_asset(organization, name=f"model {i:02d}")
        run = make_run(asset, profile, checks={"evasion.whitebox": whitebox_metrics(
            clean=0.9, robust={0.05: 0.8, 0.1: 0.2 + i / (2 * n_assets), 0.2: 0.1})}, minutes_ago=30)
        AssessmentRun.objects.filter(pk=run.pk).update(summary={
            "checks": {"passed": 1}, "robust_accuracy": 0.2 + i / (2 * n_assets), "clean_accuracy": 0.9,
            "reference_epsilon": 0.1})
        evidence_record_for_run(run=AssessmentRun.objects.get(pk=run.pk))
        schedule_create(organization=organization, asset=asset, profile=profile, user=user, cron=f"{i % 60} 3 * * *")
    running = make_run(asset, profile, status=RunStatus.RUNNING)
    AssessmentRun.objects.filter(pk=running.pk).update(progress=40, finished_at=None, current_step="PGD at ε=0.1")
    make_alert(organization, user)


def _queries_for_dashboard(client) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("web:dashboard"))
    assert response.status_code == 200
    return len(captured), response.content.decode()


def test_dashboard_costs_the_same_number_of_queries_for_3_and_30_assets(
        owner_client, organization, owner, other_organization, django_assert_max_num_queries):
    _populate(organization, owner, 3)
    small, _ = _queries_for_dashboard(owner_client)
    _populate(organization, owner, 27, start=3)
    with django_assert_max_num_queries(small):
        large, html = _queries_for_dashboard(owner_client)
    assert large == small
    assert html.count('href="/assets/') >= 8  # the at-risk list is capped, the rest is a link away


def test_dashboard_shows_posture_at_risk_alerts_runs_and_schedules_with_links(owner_client, organization, owner):
    _populate(organization, owner, 3)
    html = owner_client.get(reverse("web:dashboard")).content.decode()
    # Posture per framework links to the framework page filtered by status.
    assert re.search(r'href="/compliance/frameworks/iso-42001/\?status=non_compliant"', html)
    assert 'data-testid="posture-compliant"' in html
    # Worst first: model 00 has the lowest robust accuracy (20%) among assets without an alert.
    at_risk = html.split('data-testid="assets-at-risk"')[1].split("</section>")[0]
    names = re.findall(r">(model \d\d|digits-cnn-\d+)</a>", at_risk)
    assert names[0].startswith("digits-cnn-")  # the asset with an active alert comes first
    assert names[1:3] == ["model 00", "model 01"]
    assert "20%" in at_risk and "at ε=0.1" in at_risk
    # Active alert with its link, the running run with its progress, the next scheduled re-assessment.
    assert re.search(r'href="/monitoring/alerts/\d+/"', html)
    assert 'aria-valuenow="40"' in html and "PGD at ε=0.1" in html
    assert "cron 0 3 * * *" in html


def test_runs_panel_polls_while_a_run_is_active_and_stops_when_none_is(owner_client, organization, owner):
    asset = make_asset(organization)
    profile = make_profile(organization)
    run = make_run(asset, profile, status=RunStatus.RUNNING)
    AssessmentRun.objects.filter(pk=run.pk).update(finished_at=None)
    fragment = owner_client.get(reverse("web:dashboard-runs")).content.decode()
    assert "data-poll-url" in fragment
    AssessmentRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, finished_at="2020-01-01T00:00:00Z")
    fragment = owner_client.get(reverse("web:dashboard-runs")).content.decode()
    assert "data-poll-url" not in fragment
    assert f"#{run.pk}" in fragment


def test_nav_alert_badge_polls_only_while_something_can_raise_an_alert(owner_client, organization, owner):
    from riskapp.assets.models import ModelVersion

    asset = make_asset(organization)
    profile = make_profile(organization)
    # A version validated a moment ago may still trigger a re-assessment, hence an alert: the badge polls.
    assert "data-poll-url" in owner_client.get(reverse("web:nav-alerts")).content.decode()
    ModelVersion.objects.filter(asset=asset).update(validated_at="2020-01-01T00:00:00Z")
    badge = owner_client.get(reverse("web:nav-alerts")).content.decode()
    assert "data-poll-url" not in badge and 'data-testid="alert-badge"' not in badge
    run = make_run(asset, profile, status=RunStatus.QUEUED)
    AssessmentRun.objects.filter(pk=run.pk).update(finished_at=None)
    assert "data-poll-url" in owner_client.get(reverse("web:nav-alerts")).content.decode()
    make_alert(organization, owner)
    badge = owner_client.get(reverse("web:nav-alerts")).content.decode()
    assert 'data-testid="alert-badge"' in badge and ">1<" in badge


def test_dashboard_shows_nothing_of_another_organization(outsider_client, organization, owner):
    _populate(organization, owner, 3)
    html = outsider_client.get(reverse("web:dashboard")).content.decode()
    assert "model 00" not in html and "digits-cnn-" not in html
    assert "No models yet — Register a model" in html
    assert "data-poll-url=\"/dashboard/runs/\"" not in html


def test_dashboard_empty_state_says_what_to_do_next(owner_client):
    html = owner_client.get(reverse("web:dashboard")).content.decode()
    assert "No models yet — Register a model" in html
    assert 'href="/assets/register/"' in html


def test_posture_history_ends_at_the_posture_the_compliance_pages_show(owner_client, organization, owner):
    from riskapp.compliance.selectors import posture_by_framework
    from riskapp.web.charts import posture_over_time_svg
    from riskapp.web.selectors import posture_history

    _populate(organization, owner, 3)
    history = posture_history(organization=organization)
    now_share = {p.framework.slug: p.compliant_share for p in posture_by_framework(organization=organization)}
    assert history and {row["framework"].slug for row in history} == set(now_share)
    for row in history:
        assert row["points"][-1][1] == pytest.approx(now_share[row["framework"].slug])
        assert [when for when, _ in row["points"]] == sorted(when for when, _ in row["points"])
    svg = posture_over_time_svg([{"label": row["framework"].name, "points": row["points"]} for row in history])
    assert svg.count("<polyline") == len(history) and "of controls compliant" in svg
    assert 'data-testid="posture-chart"' in owner_client.get(reverse("web:dashboard")).content.decode()


def test_posture_chart_says_so_when_there_is_no_evidence():
    from riskapp.web.charts import posture_over_time_svg

    svg = posture_over_time_svg([])
    assert "No evidence recorded yet." in svg and "<polyline" not in svg
