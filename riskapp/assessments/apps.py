"""The assessments app: keeps built-in profiles in sync with the engine and plugs into other apps' pages."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_builtin_profiles(sender, using="default", **kwargs) -> None:
    # PROFILES is code: every migrate (and every test-database flush) brings the rows up to date with it.
    from riskapp.assessments.models import Profile
    from riskapp.assessments.services import profiles_builtin_sync

    profiles_builtin_sync(profile_model=Profile)


class AssessmentsConfig(AppConfig):
    name = "riskapp.assessments"
    label = "assessments"

    def ready(self) -> None:
        post_migrate.connect(_sync_builtin_profiles, sender=self, dispatch_uid="assessments-builtin-profiles")
        from riskapp.assessments import hooks

        hooks.register()
