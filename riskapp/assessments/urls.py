"""Web pages (urlpatterns) and extra API routes (api_urlpatterns) of the assessments app."""

urlpatterns = []
api_urlpatterns = []
