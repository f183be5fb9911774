"""The assessments app: keeps built-in profiles in sync with the engine and plugs into other apps' pages."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_builtin_profiles(sender, apps=None, **kwargs) -> None:
    # PROFILES is code: every migrate (and every test-database flush) brings the rows up to date with it.
    from riskapp.assessments.services import profiles_builtin_sync

    try:
        # The migrated state's model: absent when the app was just migrated back to zero.
        profile_model = apps.get_model("assessments", "Profile") if apps is not None else None
    except LookupError:
        return
    if profile_model is None:
        from riskapp.assessments.models import Profile as profile_model
    profiles_builtin_sync(profile_model=profile_model)


class AssessmentsConfig(AppConfig):
    name = "riskapp.assessments"
    label = "assessments"

    def ready(self) -> None:
        post_migrate.connect(_sync_builtin_profiles, sender=self, dispatch_uid="assessments-builtin-profiles")
        from riskapp.assessments import hooks

        hooks.register()
