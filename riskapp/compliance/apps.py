"""App config: loads the catalogs after migrate and plugs compliance into the asset page and navigation."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ComplianceConfig(AppConfig):
    name = "riskapp.compliance"
    label = "compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        from riskapp.compliance.services import catalog_load_after_migrate

        post_migrate.connect(catalog_load_after_migrate, sender=self, dispatch_uid="compliance-catalog-load")

        from riskapp.assets import views as asset_views
        from riskapp.compliance.views import asset_section_context

        section = ("compliance/asset_section.html", asset_section_context)
        if section not in asset_views.ASSET_DETAIL_SECTIONS:
            asset_views.ASSET_DETAIL_SECTIONS.append(section)
