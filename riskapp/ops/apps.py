from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "riskapp.ops"
    label = "ops"
