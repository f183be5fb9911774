"""Web pages (urlpatterns) and extra API routes (api_urlpatterns) of the compliance app."""

urlpatterns = []
api_urlpatterns = []
