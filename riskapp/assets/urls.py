"""Web pages (urlpatterns) and extra API routes (api_urlpatterns) of the assets app."""

from django.urls import path

from riskapp.assets import views
from riskapp.assets.api import ModelVersionViewSet

urlpatterns = [
    path("", views.asset_list, name="list"),
    path("register/", views.asset_register_view, name="register"),
    path("<int:pk>/", views.asset_detail, name="detail"),
    path("<int:pk>/versions/new/", views.version_upload, name="version-upload"),
    path("<int:pk>/datasets/new/", views.dataset_add, name="dataset-add"),
    path("versions/<int:pk>/status/", views.version_status, name="version-status"),
    path("datasets/<int:pk>/status/", views.dataset_status, name="dataset-status"),
    path("versions/<int:pk>/make-current/", views.version_make_current, name="version-make-current"),
    path("versions/<int:pk>/download/", views.version_download, name="version-download"),
]

api_urlpatterns = [
    path("assets/<int:asset_pk>/versions/",
         ModelVersionViewSet.as_view({"get": "list", "post": "create"}), name="asset-version-list"),
    path("assets/<int:asset_pk>/versions/<int:pk>/",
         ModelVersionViewSet.as_view({"get": "retrieve"}), name="asset-version-detail"),
    path("assets/<int:asset_pk>/versions/<int:pk>/make-current/",
         ModelVersionViewSet.as_view({"post": "make_current"}), name="asset-version-make-current"),
    path("assets/<int:asset_pk>/versions/<int:pk>/endpoint/",
         ModelVersionViewSet.as_view({"post": "endpoint"}), name="asset-version-endpoint"),
    path("assets/<int:asset_pk>/versions/<int:pk>/revalidate/",
         ModelVersionViewSet.as_view({"post": "revalidate"}), name="asset-version-revalidate"),
    path("assets/<int:asset_pk>/versions/<int:pk>/artifact/",
         ModelVersionViewSet.as_view({"get": "artifact"}), name="asset-version-artifact"),
]
