"""API routes of accounts are registered on the shared router; no extra paths."""

api_urlpatterns = []
