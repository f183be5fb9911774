"""Schedules own a django-celery-beat PeriodicTask; firing one creates a scheduled run; new versions re-assess."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from riskapp.assessments.models import AssessmentRun, RunTrigger
from riskapp.assets.models import ModelVersion, ValidationStatus
from riskapp.audit.models import AuditEvent
from riskapp.monitoring.models import Schedule
from riskapp.monitoring.selectors import schedule_next_run
from riskapp.monitoring.services import (
    on_version_validated,
    schedule_create,
    schedule_fire,
    schedule_pause,
    schedule_resume,
    schedule_run_now,
)
from tests.monitoring.factories import make_asset, make_profile


@pytest.fixture
def asset(organization):
    return make_asset(organization)


@pytest.fixture
def profile(organization):
    return make_profile(organization)


def test_a_cron_schedule_owns_a_beat_periodic_task(asset, profile, organization, owner):
    schedule = schedule_create(organization=organization, asset=asset, profile=profile, user=owner,
                               kind="cron", cron="0  3 * * *")
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.task == "workers.tasks.run_scheduled_assessment"
    assert json.loads(task.args) == [schedule.pk]
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("0", "3", "*")
    assert task.enabled and task.interval is None
    assert schedule.cron == "0 3 * * *"
    assert AuditEvent.objects.filter(action="schedule.create", object_id=str(schedule.pk)).exists()


def test_next_run_of_a_daily_cron_is_the_next_0300_utc(asset, profile, organization, owner):
    schedule = schedule_create(organization=organization, asset=asset, profile=profile, user=owner,
                               kind="cron", cron="0 3 * * *")
    now = datetime(2026, 5, 1, 10, 30, tzinfo=dt_timezone.utc)
    assert schedule_next_run(schedule, now=now) == datetime(2026, 5, 2, 3, 0, tzinfo=dt_timezone.utc)


def test_next_run_of_an_interval_schedule_counts_from_its_last_run(asset, profile, organization, owner):
    schedule = schedule_create(organization=organization, asset=asset, profile=profile, user=owner,
                               kind="interval", interval_every=6, interval_unit="hours")
    task = schedule.periodic_task
    assert (task.interval.every, task.interval.period) == (6, "hours") and task.crontab is None
    task.last_run_at = timezone.now() - timedelta(hours=1)
    task.save()
    next_run = schedule_next_run(schedule)
    assert next_run == task.last_run_at + timedelta(hours=6)


def test_pause_and_resume_switch_the_periodic_task(asset, profile, organization, owner):
    schedule = schedule_create(organization=organization, asset=asset, profile=profile, user=owner, cron="*/30 * * * *")
    schedule_pause(schedule=schedule, user=owner)
    assert not PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled
    assert schedule_next_run(schedule) is None
    schedule_resume(schedule=schedule, user=owner)
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled
    assert schedule_next_run(schedule) is not None


@pytest.mark.parametrize("fields", [
    {"kind": "cron", "cron": "every day"},
    {"kind": "cron", "cron": "61 * * * *"},
    {"kind": "interval", "interval_every": 1, "interval_unit": "minutes"},
    {"kind": "interval", "interval_every": None, "interval_unit": "days"},
])
def test_bad_schedules_are_refused(asset, profile, organization, owner, fields):
    with pytest.raises(ValidationError):
        schedule_create(organization=organization, asset=asset, profile=profile, user=owner, **fields)
    assert not Schedule.objects.exists() and not PeriodicTask.objects.filter(task__contains="scheduled").exists()


def test_firing_creates_a_scheduled_run_and_records_it(asset, profile, organization, owner):
    schedule = schedule_create(organization=organization, asset=asset, profile=profile, user=owner, cron="0 3 * * *")
    run = schedule_fire(schedule_id=schedule.pk)
    assert run.trigger == RunTrigger.SCHEDULE and run.version == asset.current_version and run.profile == profile
    schedule.refresh_from_db()
    assert schedule.last_run == run and schedule.last_error == ""


def test_firing_a_paused_schedule_does_nothing(asset, profile, organization, owner):
    schedule = schedule_create(organization=organization, asset=asset, profile=profile, user=owner, cron="0 3 * * *")
    schedule_pause(schedule=schedule, user=owner)
    assert schedule_fire(schedule_id=schedule.pk) is None
    assert not AssessmentRun.objects.exists()


def test_firing_without_a_validated_version_records_why(asset, profile, organization, owner):
    schedule = schedule_create(organization=organization, asset=asset, profile=profile, user=owner, cron="0 3 * * *")
    asset.current_version = None
    asset.save()
    assert schedule_fire(schedule_id=schedule.pk) is None
    schedule.refresh_from_db()
    assert "no validated model version" in schedule.last_error


def test_the_periodic_task_runs_the_schedule(asset, profile, organization, owner, settings):
    from workers.tasks import run_scheduled_assessment

    schedule = schedule_create(organization=organization, asset=asset, profile=profile, user=owner, cron="0 3 * * *")
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    run_scheduled_assessment.apply(args=json.loads(task.args))
    assert AssessmentRun.objects.get().trigger == RunTrigger.SCHEDULE


def test_a_validated_new_version_is_assessed_with_each_schedules_profile(asset, organization, owner):
    standard, privacy, unused = make_profile(organization), make_profile(organization), make_profile(organization)
    schedule_create(organization=organization, asset=asset, profile=standard, user=owner, cron="0 3 * * *")
    schedule_create(organization=organization, asset=asset, profile=standard, user=owner, cron="0 15 * * *")
    schedule_create(organization=organization, asset=asset, profile=privacy, user=owner, cron="0 4 * * 1")
    schedule_create(organization=organization, asset=asset, profile=unused, user=owner, cron="0 4 * * 1",
                    run_on_new_version=False)
    paused = schedule_create(organization=organization, asset=asset, profile=make_profile(organization), user=owner,
                             cron="0 5 * * *")
    schedule_pause(schedule=paused, user=owner)
    version = ModelVersion.objects.create(asset=asset, label="v-new", format="torchscript", input_shape=[1, 8, 8],
                                          nb_classes=10, status=ValidationStatus.VALIDATED)
    runs = on_version_validated(version=version)
    assert sorted(run.profile_id for run in runs) == sorted([standard.pk, privacy.pk])
    assert all(run.trigger == RunTrigger.NEW_VERSION and run.version == version for run in runs)
    # Each schedule that launched a run shows it as its last run (not "never"); the others keep none.
    for schedule in Schedule.objects.all():
        expected = next((run for run in runs if run.profile_id == schedule.profile_id), None)
        assert schedule.last_run == (expected if schedule.enabled and schedule.run_on_new_version else None)


def test_run_now_starts_the_schedules_run_and_records_it(asset, profile, organization, owner):
    schedule = schedule_create(organization=organization, asset=asset, profile=profile, user=owner, cron="0 3 * * *")
    run = schedule_run_now(schedule=schedule, user=owner)
    assert run.profile == profile and run.version == asset.current_version and run.trigger == RunTrigger.SCHEDULE
    assert run.requested_by == owner
    schedule.refresh_from_db()
    assert schedule.last_run == run
    assert AuditEvent.objects.filter(action="schedule.run_now", object_id=str(schedule.pk)).exists()


def test_run_now_from_the_schedule_list_and_the_api(asset, profile, organization, owner, owner_client, member_api):
    schedule = schedule_create(organization=organization, asset=asset, profile=profile, user=owner, cron="0 3 * * *")
    page = owner_client.get("/monitoring/schedules/").content.decode()
    assert f"/monitoring/schedules/{schedule.pk}/run-now/" in page and "Run now" in page
    response = owner_client.post(f"/monitoring/schedules/{schedule.pk}/run-now/")
    run = AssessmentRun.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/runs/{run.pk}/")
    api = member_api.post(f"/api/v1/schedules/{schedule.pk}/run-now/")
    assert api.status_code == 202, api.content
    assert api.json()["id"] == AssessmentRun.objects.latest("pk").pk != run.pk


def test_a_viewer_cannot_run_a_schedule_now(asset, profile, viewer_api, organization, owner):
    schedule = schedule_create(organization=organization, asset=asset, profile=profile, user=owner, cron="0 3 * * *")
    assert viewer_api.post(f"/api/v1/schedules/{schedule.pk}/run-now/").status_code == 403
    assert not AssessmentRun.objects.exists()


def test_api_creates_pauses_and_resumes_a_schedule(asset, profile, member_api):
    response = member_api.post("/api/v1/schedules/", {"asset": asset.pk, "profile": profile.pk, "kind": "cron",
                                                      "cron": "0 3 * * *"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["enabled"] and body["next_run_at"] and body["run_on_new_version"] is True
    paused = member_api.post(f"/api/v1/schedules/{body['id']}/pause/")
    assert paused.status_code == 202 and paused.json()["enabled"] is False and paused.json()["next_run_at"] is None
    resumed = member_api.post(f"/api/v1/schedules/{body['id']}/resume/")
    assert resumed.status_code == 202 and resumed.json()["enabled"] is True
    bad = member_api.post("/api/v1/schedules/", {"asset": asset.pk, "profile": profile.pk, "cron": "nope"},
                          format="json")
    assert bad.status_code == 400 and "cron" in bad.json()


def test_a_viewer_cannot_create_or_pause_schedules(asset, profile, viewer_api, organization, owner):
    response = viewer_api.post("/api/v1/schedules/", {"asset": asset.pk, "profile": profile.pk, "cron": "0 3 * * *"},
                               format="json")
    assert response.status_code == 403
    schedule = schedule_create(organization=organization, asset=asset, profile=profile, user=owner, cron="0 3 * * *")
    assert viewer_api.post(f"/api/v1/schedules/{schedule.pk}/pause/").status_code == 403


def test_the_schedule_form_on_the_web_creates_one(asset, profile, owner_client):
    response = owner_client.post(f"/monitoring/schedules/new/{asset.pk}/", {
        "profile": profile.pk, "kind": "interval", "interval_every": 1, "interval_unit": "days",
        "run_on_new_version": "on", "next": "/monitoring/schedules/"})
    assert response.status_code == 302
    schedule = Schedule.objects.get()
    assert schedule.describe() == "every 1 day"
    page = owner_client.get("/monitoring/schedules/").content.decode()
    assert asset.name in page and "every 1 day" in page and "UTC" in page


def test_beats_database_scheduler_picks_up_and_applies_the_schedule(asset, profile, organization, owner):
    from django_celery_beat.schedulers import DatabaseScheduler

    import workers.tasks  # noqa: F401  (registers the tasks, as the worker and beat processes do)
    from workers.celery import app

    schedule = schedule_create(organization=organization, asset=asset, profile=profile, user=owner, cron="* * * * *")
    scheduler = DatabaseScheduler(app=app, lazy=True)
    entry = scheduler.all_as_schedule()[schedule.periodic_task.name]
    assert entry.task == "workers.tasks.run_scheduled_assessment" and list(entry.args) == [schedule.pk]
    # What beat does with a due entry (its apply_async), without the scheduler's own sync and connection handling.
    app.tasks[entry.task].apply(args=entry.args, kwargs=entry.kwargs)
    assert AssessmentRun.objects.get().trigger == RunTrigger.SCHEDULE
    schedule_pause(schedule=schedule, user=owner)
    assert schedule.periodic_task.name not in DatabaseScheduler(app=app, lazy=True).all_as_schedule()


def test_a_deleted_assets_schedule_retires_its_beat_entry_when_it_fires(asset, profile, organization, owner):
    schedule = schedule_create(organization=organization, asset=asset, profile=profile, user=owner, cron="0 3 * * *")
    task_id, schedule_id = schedule.periodic_task_id, schedule.pk
    Schedule.objects.filter(pk=schedule_id).delete()  # what deleting the asset does, by cascade
    assert PeriodicTask.objects.filter(pk=task_id).exists()
    assert schedule_fire(schedule_id=schedule_id) is None
    assert not PeriodicTask.objects.filter(pk=task_id).exists()
