"""Web pages (urlpatterns) and extra API routes (api_urlpatterns) of the assessments app."""

from django.urls import path

from riskapp.assessments import views

urlpatterns = [
    path("", views.run_list, name="list"),
    path("new/<int:asset_id>/", views.run_new, name="create"),
    path("profiles/", views.profile_list, name="profiles"),
    path("runs/<int:run_id>/", views.run_detail, name="detail"),
    path("runs/<int:run_id>/progress/", views.run_progress, name="progress"),
    path("runs/<int:run_id>/cancel/", views.run_cancel_view, name="cancel"),
    path("runs/<int:run_id>/rerun/", views.run_rerun_view, name="rerun"),
]
api_urlpatterns = []
