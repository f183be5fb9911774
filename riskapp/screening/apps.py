"""The screening app: runtime screening of model inputs; adds its sections to the asset page and the settings page."""

from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "riskapp.screening"
    label = "screening"
    verbose_name = "Runtime screening"

    def ready(self) -> None:
        from riskapp.screening import views
        from riskapp.web import views as web_views

        settings_section = (views.SETTINGS_TEMPLATE, views.settings_context)
        if settings_section not in web_views.SETTINGS_SECTIONS:
            web_views.SETTINGS_SECTIONS.append(settings_section)
        try:
            from riskapp.assets import views as asset_views
        except ImportError:  # the registry's pages are optional for the API
            return
        section = (views.ASSET_SECTION_TEMPLATE, views.asset_section_context)
        if section not in asset_views.ASSET_DETAIL_SECTIONS:
            asset_views.ASSET_DETAIL_SECTIONS.append(section)
