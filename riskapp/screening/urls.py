"""Web pages (urlpatterns) and extra API routes (api_urlpatterns) of the screening app."""

from django.urls import path

from riskapp.screening import api, views

urlpatterns = [
    path("assets/<int:pk>/", views.asset_screening, name="asset"),
    path("assets/<int:pk>/enable/", views.screening_enable, name="enable"),
    path("assets/<int:pk>/policy/", views.policy_update, name="policy"),
    path("assets/<int:pk>/tokens/", views.token_create, name="token-create"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("settings/store-inputs/", views.store_inputs_update, name="store-inputs"),
]

api_urlpatterns = [
    # The issue names the endpoint without a trailing slash; both spellings work.
    path("assets/<int:pk>/screen", api.ScreenView.as_view(), name="asset-screen"),
    path("assets/<int:pk>/screen/", api.ScreenView.as_view(schema=None)),  # documented once, without the slash
    path("assets/<int:pk>/screening/enable/", api.ScreeningEnableView.as_view(), name="asset-screening-enable"),
    path("assets/<int:pk>/screening/policy/", api.ScreeningPolicyView.as_view(), name="asset-screening-policy"),
]
