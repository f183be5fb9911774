"""Dashboard and organization settings pages."""

from django.urls import path

from riskapp.accounts.views import switch_organization
from riskapp.web import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("dashboard/runs/", views.dashboard_runs, name="dashboard-runs"),
    path("nav/alerts/", views.nav_alert_badge, name="nav-alerts"),
    path("guide/", views.guide, name="guide"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/organization/", views.organization_settings, name="organization-settings"),
    path("settings/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("organizations/<int:org_id>/switch/", switch_organization, name="switch-organization"),
]
