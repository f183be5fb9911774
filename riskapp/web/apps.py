"""The web app: dashboard, settings, the shared design system, and the demo's guided first look."""

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "riskapp.web"
    label = "web"

    def ready(self) -> None:
        from riskapp.web.demo import register_seed_steps

        register_seed_steps()
