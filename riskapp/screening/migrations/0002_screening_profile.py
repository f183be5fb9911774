"""The built-in "screening" profile: only detection.train, so an asset's screening detectors can be trained on their own."""

from django.db import migrations

SCREENING_PROFILE = {
    "slug": "screening",
    "name": "Screening detectors",
    "description": (
        "Trains the runtime screens for the model: an adversarial-input detector and an anomaly detector, each "
        "calibrated to a 1% false-alarm rate on clean data, with detection rates measured per attack and against "
        "an adaptive attacker. The fitted detectors then serve POST /api/v1/assets/{id}/screen."
    ),
    "spec": {
        "name": "screening",
        "risk_tier": "limited",
        "checks": [
            # A 1% target measured on a few hundred clean inputs varies by about half a point: 3% (1.5% once a
            # high risk tier halves it) fails a detector that is miscalibrated, not one that is unlucky.
            {"kind": "detection.train", "params": {"target_fpr": 0.01},
             "thresholds": {"detection_rate": {"min": 0.5}, "false_positive_rate": {"max": 0.03}}},
        ],
    },
}


def create_profile(apps, schema_editor):
    Profile = apps.get_model("assessments", "Profile")
    fields = {key: value for key, value in SCREENING_PROFILE.items() if key != "slug"}
    profile = Profile.objects.filter(organization__isnull=True, slug=SCREENING_PROFILE["slug"]).first()
    if profile is None:
        Profile.objects.create(organization=None, slug=SCREENING_PROFILE["slug"], is_builtin=True, **fields)
    else:
        for name, value in fields.items():
            setattr(profile, name, value)
        profile.is_builtin = True
        profile.save()


def remove_profile(apps, schema_editor):
    Profile = apps.get_model("assessments", "Profile")
    Profile.objects.filter(organization__isnull=True, slug=SCREENING_PROFILE["slug"], runs__isnull=True).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("screening", "0001_initial"),
        ("assessments", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_profile, remove_profile)]
