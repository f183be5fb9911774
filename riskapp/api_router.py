"""The one DRF router behind /api/v1/; each app's api.py registers its viewsets here."""

from rest_framework.routers import DefaultRouter


class RiskappRouter(DefaultRouter):
    include_format_suffixes = False


router = RiskappRouter()
