from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "riskapp.monitoring"
    label = "monitoring"
