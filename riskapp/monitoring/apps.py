"""App config: hooks monitoring into the navigation badge, the asset page and the organization settings."""

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "riskapp.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from riskapp.monitoring import views
        from riskapp.web import context_processors
        from riskapp.web import views as web_views

        if views.alert_badge not in context_processors.BADGE_PROVIDERS:
            context_processors.BADGE_PROVIDERS.append(views.alert_badge)
        section = ("monitoring/settings_channels.html", views.settings_channels_context)
        if section not in web_views.SETTINGS_SECTIONS:
            web_views.SETTINGS_SECTIONS.append(section)
        try:
            from riskapp.assets import views as asset_views
        except ImportError:
            return
        sections = getattr(asset_views, "ASSET_DETAIL_SECTIONS", None)
        asset_section = ("monitoring/asset_schedules.html", views.asset_schedules_context)
        if sections is not None and asset_section not in sections:
            sections.append(asset_section)
