"""Sets request.organization: the organization the signed-in user is working in (chosen in the UI)."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from riskapp.accounts.models import Organization
from riskapp.accounts.tenancy import organization_ids_for

SESSION_KEY = "riskapp_organization_id"


def current_organization(request) -> Organization | None:
    ids = organization_ids_for(request.user)
    if not ids:
        return None
    chosen = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    return Organization.objects.filter(pk=chosen if chosen in ids else ids[0]).first()


class CurrentOrganizationMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.organization = SimpleLazyObject(lambda: current_organization(request))
        return self.get_response(request)


class RejectNulCharactersMiddleware:
    """A NUL character in the query string is a 400: PostgreSQL refuses NUL in text, which would surface as a 500
    from whichever filter first passes the value to a query."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if any("\x00" in key or "\x00" in value for key, values in request.GET.lists() for value in values):
            from django.http import JsonResponse

            return JsonResponse({"detail": "Query parameters cannot contain NUL characters."}, status=400)
        return self.get_response(request)
