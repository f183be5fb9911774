"""API routes of audit are registered on the shared router; no extra paths."""

api_urlpatterns = []
