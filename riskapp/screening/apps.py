from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "riskapp.screening"
    label = "screening"
