"""Built-in profiles (quick / standard / thorough) from the engine, and the every-minute housekeeping tasks."""

from django.db import migrations

# (name, task) of the periodic tasks beat runs every minute.
HOUSEKEEPING_TASKS = [
    ("riskapp: fail runs whose worker stopped responding", "workers.tasks.reap_stale_runs"),
    ("riskapp: send again queued runs no worker claimed", "workers.tasks.dispatch_queued_runs"),
    ("riskapp: worker heartbeat", "workers.tasks.worker_heartbeat"),
]


def create_builtin_profiles(apps, schema_editor):
    from riskapp.assessments.services import profiles_builtin_sync

    profiles_builtin_sync(profile_model=apps.get_model("assessments", "Profile"))


def create_periodic_tasks(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    for name, task in HOUSEKEEPING_TASKS:
        PeriodicTask.objects.update_or_create(name=name, defaults={"task": task, "interval": every_minute,
                                                                   "enabled": True})


def remove_periodic_tasks(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, _ in HOUSEKEEPING_TASKS]).delete()


def remove_builtin_profiles(apps, schema_editor):
    Profile = apps.get_model("assessments", "Profile")
    Profile.objects.filter(organization__isnull=True, is_builtin=True, runs__isnull=True).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("assessments", "0002_run_notes_builtin_profile_slug"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(create_builtin_profiles, remove_builtin_profiles),
        migrations.RunPython(create_periodic_tasks, remove_periodic_tasks),
    ]
