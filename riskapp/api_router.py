"""The one DRF router behind /api/v1/; each app's api.py registers its viewsets here."""

from rest_framework.pagination import LimitOffsetPagination
from rest_framework.routers import DefaultRouter


class RiskappRouter(DefaultRouter):
    include_format_suffixes = False


router = RiskappRouter()


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """limit/offset paging whose numbers stay in range: a huge ?limit= or ?offset= is capped, never a 500
    from the database's integer overflow."""

    max_limit = 1000
    max_offset = 10**9

    def get_offset(self, request):
        return min(super().get_offset(request), self.max_offset)
