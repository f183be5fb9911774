from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "riskapp.web"
    label = "web"
