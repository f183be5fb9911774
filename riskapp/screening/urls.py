"""Web pages (urlpatterns) and extra API routes (api_urlpatterns) of the screening app."""

urlpatterns = []
api_urlpatterns = []
