"""Web pages (urlpatterns) and extra API routes (api_urlpatterns) of the monitoring app."""

urlpatterns = []
api_urlpatterns = []
