"""Web pages (urlpatterns) and extra API routes (api_urlpatterns) of the assets app."""

urlpatterns = []
api_urlpatterns = []
