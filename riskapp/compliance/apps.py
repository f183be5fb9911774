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
