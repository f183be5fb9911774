from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "riskapp.compliance"
    label = "compliance"
