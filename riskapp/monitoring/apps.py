"""App config of monitoring: schedules, regression detection, alerts and channels."""

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "riskapp.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"
