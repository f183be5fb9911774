"""The screening app: runtime screening of model inputs; adds its section to the asset page."""

from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "riskapp.screening"
    label = "screening"
    verbose_name = "Runtime screening"

    def ready(self) -> None:
        try:
            from riskapp.assets import views as asset_views
        except ImportError:  # the registry's pages are optional for the API
            return
        from riskapp.screening import views

        section = (views.ASSET_SECTION_TEMPLATE, views.asset_section_context)
        if section not in asset_views.ASSET_DETAIL_SECTIONS:
            asset_views.ASSET_DETAIL_SECTIONS.append(section)
