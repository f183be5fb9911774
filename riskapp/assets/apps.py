from django.apps import AppConfig


class AssetsConfig(AppConfig):
    name = "riskapp.assets"
    label = "assets"
