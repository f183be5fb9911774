"""Built-in profiles are rows that follow the engine's PROFILES; custom profiles are validated by the engine."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from riskapp.assessments.models import Profile
from riskapp.assessments.services import profile_create, profile_update, profiles_builtin_sync
from tests.assessments.factories import TINY_SUITE
from workers.engine.suite import PROFILES
from workers.engine.types import SuiteSpec

pytestmark = pytest.mark.django_db


def test_every_engine_profile_is_a_builtin_row_after_migrate():
    for slug, raw in PROFILES.items():
        profile = Profile.objects.get(organization__isnull=True, slug=slug)
        assert profile.is_builtin
        assert profile.spec == SuiteSpec.from_dict(raw).to_dict()
    assert Profile.objects.get(slug="quick", organization__isnull=True).name == "Quick"


def test_sync_brings_a_changed_builtin_back_in_line_with_the_engine():
    quick = Profile.objects.get(organization__isnull=True, slug="quick")
    quick.spec = {"name": "quick", "checks": [{"kind": "integrity.data"}]}
    quick.save()
    assert profiles_builtin_sync() == 1
    quick.refresh_from_db()
    assert quick.spec == SuiteSpec.from_dict(PROFILES["quick"]).to_dict()
    assert profiles_builtin_sync() == 0  # nothing to do when in sync
    assert Profile.objects.filter(organization__isnull=True, slug="quick").count() == 1


def test_builtin_slugs_are_unique():
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Profile.objects.create(organization=None, slug="quick", name="Impostor", spec=TINY_SUITE)


def test_periodic_housekeeping_tasks_are_scheduled_every_minute():
    from django_celery_beat.models import PeriodicTask

    tasks = {t.task: t for t in PeriodicTask.objects.select_related("interval")}
    for name in ("workers.tasks.reap_stale_runs", "workers.tasks.dispatch_queued_runs",
                 "workers.tasks.worker_heartbeat"):
        assert tasks[name].enabled and (tasks[name].interval.every, tasks[name].interval.period) == (1, "minutes")


def test_custom_profile_is_stored_normalised_and_audited(organization, member):
    from riskapp.audit.models import AuditEvent

    profile = profile_create(organization=organization, slug="tiny", name="Tiny", spec=TINY_SUITE,
                             tolerances={"robust_accuracy": 0.05}, user=member)
    assert profile.spec == SuiteSpec.from_dict(TINY_SUITE).to_dict() and profile.spec["risk_tier"] == "limited"
    assert AuditEvent.objects.filter(action="profile.create", object_id=str(profile.pk), actor=member).exists()


@pytest.mark.parametrize("spec, message", [
    ({"name": "x", "checks": []}, "non-empty"),
    ({"name": "x", "checks": [{"kind": "integrity.data"}, {"kind": "integrity.data"}]}, "repeated"),
    ({"name": "x", "risk_tier": "extreme", "checks": [{"kind": "integrity.data"}]}, "risk_tier"),
    ({"name": "x", "checks": [{"kind": "evasion.whitebox", "thresholds": {"robust_accuracy": {"min": "high"}}}]},
     "must be a number"),
])
def test_invalid_custom_suites_are_refused_with_the_reason(organization, spec, message):
    with pytest.raises(ValidationError) as excinfo:
        profile_create(organization=organization, slug="bad", name="Bad", spec=spec)
    assert message in str(excinfo.value)


def test_negative_tolerance_is_refused(organization):
    with pytest.raises(ValidationError):
        profile_create(organization=organization, slug="t", name="T", spec=TINY_SUITE,
                       tolerances={"robust_accuracy": -1})


def test_builtin_profiles_cannot_be_changed_through_the_service():
    with pytest.raises(ValidationError):
        profile_update(profile=Profile.objects.get(organization__isnull=True, slug="quick"), name="Mine")
