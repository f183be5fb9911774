"""DRF authentication with per-asset screening tokens (`Authorization: Bearer rss_…`), for production services."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions

from riskapp.screening.services import SCREENING_TOKEN_PREFIX, screening_token_authenticate


class ScreeningTokenAuthentication(authentication.BaseAuthentication):
    """Accepts screening tokens only; any other bearer token is left to the API token authentication.

    The request then has no user: `request.auth` is the ScreeningToken, good for one asset's screen endpoint.
    """

    keywords = ("bearer", "token")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if len(header) != 2 or header[0].lower() not in self.keywords or not header[1].startswith(SCREENING_TOKEN_PREFIX):
            return None
        token = screening_token_authenticate(raw=header[1])
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked screening token.")
        return AnonymousUser(), token

    def authenticate_header(self, request):
        return 'Bearer realm="screening"'


try:
    from drf_spectacular.extensions import OpenApiAuthenticationExtension
except ImportError:  # the schema generator is optional at runtime
    pass
else:

    class ScreeningTokenScheme(OpenApiAuthenticationExtension):
        target_class = ScreeningTokenAuthentication
        name = "screeningToken"

        def get_security_definition(self, auto_schema):
            return {"type": "http", "scheme": "bearer", "bearerFormat": "rss_…",
                    "description": "A per-asset screening token; it can only call that asset's screen endpoint."}
