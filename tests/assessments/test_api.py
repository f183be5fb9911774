"""The runs and profiles API: 202 on side effects, nested check results, roles, and 404 for outsiders."""

from __future__ import annotations

import pytest

from riskapp.assessments.models import AssessmentRun, CheckResult, Profile, RunStatus, RunTrigger
from tests.assessments.factories import TINY_SUITE, builtin_profile, custom_profile

pytestmark = pytest.mark.django_db


def test_post_run_answers_202_with_the_queued_row(asset, member_api, published, django_capture_on_commit_callbacks):
    profile = builtin_profile("quick")
    with django_capture_on_commit_callbacks(execute=True):
        response = member_api.post("/api/v1/runs/", {"asset": asset.pk, "profile": profile.pk, "seed": 9},
                                   format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["seed"] == 9 and body["trigger"] == RunTrigger.API
    assert body["version"] == asset.current_version_id and body["evaluation_dataset"] == asset.evaluation_dataset_id
    assert body["checks"] == []
    assert published == [{"args": [body["id"]], "queue": "assess-cpu"}]


def test_post_run_with_an_invalid_choice_answers_400(asset, member_api, published, organization, digits_cnn_bytes):
    response = member_api.post("/api/v1/runs/", {"asset": asset.pk, "profile": builtin_profile().pk, "seed": -4},
                               format="json")
    assert response.status_code == 400
    assert "seed" in response.json()


def test_viewer_cannot_create_runs(asset, viewer_api, published):
    response = viewer_api.post("/api/v1/runs/", {"asset": asset.pk, "profile": builtin_profile().pk}, format="json")
    assert response.status_code == 403
    assert not AssessmentRun.objects.exists()


def test_outsider_cannot_create_a_run_on_another_organizations_asset(asset, outsider_api, published):
    response = outsider_api.post("/api/v1/runs/", {"asset": asset.pk, "profile": builtin_profile().pk}, format="json")
    assert response.status_code == 400  # the asset does not exist for them
    assert "asset" in response.json()
    assert not AssessmentRun.objects.exists()


def _finished_run(asset, organization):
    profile = custom_profile(organization)
    run = AssessmentRun.objects.create(organization=organization, asset=asset, version=asset.current_version,
                                       profile=profile, profile_snapshot=profile.spec,
                                       evaluation_dataset=asset.evaluation_dataset, status=RunStatus.SUCCEEDED,
                                       progress=100, summary={"robust_accuracy": 0.5})
    CheckResult.objects.create(run=run, order=1, kind="evasion.whitebox", status="passed",
                               metrics={"robust_accuracy": 0.5}, thresholds={"robust_accuracy": {"min": 0.3}})
    CheckResult.objects.create(run=run, order=0, kind="integrity.data", status="passed", metrics={"nan_count": 0})
    return run


def test_run_detail_nests_check_results_in_order(asset, organization, viewer_api):
    run = _finished_run(asset, organization)
    body = viewer_api.get(f"/api/v1/runs/{run.pk}/").json()
    assert [c["kind"] for c in body["checks"]] == ["integrity.data", "evasion.whitebox"]
    assert body["checks"][1]["thresholds"] == {"robust_accuracy": {"min": 0.3}}
    listing = viewer_api.get("/api/v1/runs/").json()
    assert [row["id"] for row in listing["results"]] == [run.pk]
    assert "checks" not in listing["results"][0]


def test_runs_filter_by_status(asset, organization, viewer_api):
    run = _finished_run(asset, organization)
    assert viewer_api.get("/api/v1/runs/?status=succeeded").json()["count"] == 1
    assert viewer_api.get("/api/v1/runs/?status=queued").json()["count"] == 0
    assert viewer_api.get(f"/api/v1/runs/?asset={run.asset_id}").json()["count"] == 1


def test_outsider_gets_404_on_another_organizations_run_and_its_actions(asset, organization, outsider_api):
    run = _finished_run(asset, organization)
    assert outsider_api.get(f"/api/v1/runs/{run.pk}/").status_code == 404
    assert outsider_api.post(f"/api/v1/runs/{run.pk}/cancel/").status_code == 404
    assert outsider_api.post(f"/api/v1/runs/{run.pk}/rerun/").status_code == 404
    assert outsider_api.get("/api/v1/runs/").json()["count"] == 0


def test_cancel_and_rerun_actions_answer_202(asset, owner, member_api, viewer_api, published):
    from riskapp.assessments.services import run_create

    run = run_create(asset=asset, profile=builtin_profile("quick"), user=owner, seed=4)
    assert viewer_api.post(f"/api/v1/runs/{run.pk}/cancel/").status_code == 403
    response = member_api.post(f"/api/v1/runs/{run.pk}/cancel/")
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    assert member_api.post(f"/api/v1/runs/{run.pk}/cancel/").status_code == 400  # already finished

    response = member_api.post(f"/api/v1/runs/{run.pk}/rerun/")
    assert response.status_code == 202
    body = response.json()
    assert body["id"] != run.pk and body["rerun_of"] == run.pk and body["seed"] == 4 and body["status"] == "queued"


# --- profiles -------------------------------------------------------------------------------------------


def test_builtin_profiles_are_listed_for_every_member_and_read_only(viewer_api, member_api, outsider_api):
    slugs = {row["slug"] for row in viewer_api.get("/api/v1/profiles/").json()["results"] if row["is_builtin"]}
    assert {"quick", "standard", "thorough"} <= slugs
    quick = builtin_profile("quick")
    assert outsider_api.get(f"/api/v1/profiles/{quick.pk}/").status_code == 200
    response = member_api.patch(f"/api/v1/profiles/{quick.pk}/", {"name": "Mine now"}, format="json")
    assert response.status_code == 403
    assert member_api.delete(f"/api/v1/profiles/{quick.pk}/").status_code == 403
    assert Profile.objects.get(pk=quick.pk).name == "Quick"


def test_member_creates_updates_and_deletes_a_custom_profile(member_api, organization):
    response = member_api.post("/api/v1/profiles/", {"slug": "gate", "name": "Release gate", "spec": TINY_SUITE},
                               format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["organization"] == organization.pk and body["is_builtin"] is False
    assert body["spec"]["checks"][1]["kind"] == "evasion.whitebox"

    response = member_api.patch(f"/api/v1/profiles/{body['id']}/", {"name": "Gate v2"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Gate v2"
    assert member_api.delete(f"/api/v1/profiles/{body['id']}/").status_code == 204
    assert not Profile.objects.filter(pk=body["id"]).exists()


def test_a_custom_profile_with_an_invalid_suite_is_refused(member_api):
    bad_threshold = {"name": "x", "checks": [{"kind": "evasion.whitebox", "thresholds": {"robust_accuracy": 0.5}}]}
    response = member_api.post("/api/v1/profiles/", {"slug": "bad", "name": "Bad", "spec": bad_threshold},
                               format="json")
    assert response.status_code == 400
    assert "robust_accuracy" in str(response.json())
    unknown = {"name": "x", "checks": [{"kind": "evasion.telepathy"}]}
    response = member_api.post("/api/v1/profiles/", {"slug": "bad", "name": "Bad", "spec": unknown}, format="json")
    assert response.status_code == 400
    assert "evasion.telepathy" in str(response.json())


def test_duplicate_custom_profile_slug_is_refused(member_api, organization):
    custom_profile(organization, slug="gate")
    response = member_api.post("/api/v1/profiles/", {"slug": "gate", "name": "Again", "spec": TINY_SUITE},
                               format="json")
    assert response.status_code == 400


def test_viewer_cannot_create_a_profile(viewer_api):
    response = viewer_api.post("/api/v1/profiles/", {"slug": "v", "name": "V", "spec": TINY_SUITE}, format="json")
    assert response.status_code == 403


def test_outsider_gets_404_on_a_custom_profile_and_does_not_list_it(organization, outsider_api):
    profile = custom_profile(organization)
    assert outsider_api.get(f"/api/v1/profiles/{profile.pk}/").status_code == 404
    assert outsider_api.patch(f"/api/v1/profiles/{profile.pk}/", {"name": "x"}, format="json").status_code == 404
    assert outsider_api.delete(f"/api/v1/profiles/{profile.pk}/").status_code == 404
    ids = {row["id"] for row in outsider_api.get("/api/v1/profiles/").json()["results"]}
    assert profile.pk not in ids


def test_a_profile_used_by_runs_cannot_be_deleted(asset, organization, member_api):
    run = _finished_run(asset, organization)
    response = member_api.delete(f"/api/v1/profiles/{run.profile_id}/")
    assert response.status_code == 400
    assert Profile.objects.filter(pk=run.profile_id).exists()
