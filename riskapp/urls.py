"""URL configuration: the web UI, the /api/v1/ API with its OpenAPI schema, and the admin."""

from importlib import import_module

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from riskapp.accounts.views import RateLimitedLoginView
from riskapp.api_router import router

# Apps register their viewsets on the shared router when their api module is imported.
API_APPS = ["accounts", "audit", "assets", "assessments", "compliance", "monitoring", "screening"]
app_api_urlpatterns = []
for _app in API_APPS:
    import_module(f"riskapp.{_app}.api")
    app_api_urlpatterns += getattr(import_module(f"riskapp.{_app}.urls"), "api_urlpatterns", [])

urlpatterns = [
    path("accounts/login/", RateLimitedLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include(app_api_urlpatterns)),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    path("assets/", include(("riskapp.assets.urls", "assets"))),
    path("assessments/", include(("riskapp.assessments.urls", "assessments"))),
    path("compliance/", include(("riskapp.compliance.urls", "compliance"))),
    path("monitoring/", include(("riskapp.monitoring.urls", "monitoring"))),
    path("screening/", include(("riskapp.screening.urls", "screening"))),
    path("", include(("riskapp.web.urls", "web"))),
]
