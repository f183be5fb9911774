"""Web pages (urlpatterns) and extra API routes (api_urlpatterns) of the compliance app."""

from django.urls import path

from riskapp.compliance import api, views

urlpatterns = [
    path("", views.index, name="index"),
    path("mapping/", views.mapping_page, name="mapping"),
    path("verify/", views.verify_page, name="verify"),
    path("frameworks/<slug:slug>/", views.framework_page, name="framework"),
    path("frameworks/<slug:slug>/controls/<path:ref_id>/", views.control_page, name="control"),
    path("assets/<int:asset_id>/controls/<int:control_id>/manual-evidence/", views.manual_evidence_add,
         name="manual-evidence-add"),
    path("manual-evidence/<int:evidence_id>/file/", views.manual_evidence_file, name="manual-evidence-file"),
    path("reports/", views.report_list, name="reports"),
    path("reports/<int:report_id>/row/", views.report_row, name="report-row"),
    path("reports/<int:report_id>/download/", views.report_download, name="report-download"),
    path("share/", views.share_link_new, name="share-create"),
    path("share/<int:link_id>/revoke/", views.share_link_revoke_view, name="share-revoke"),
    path("shared/<str:token>/", views.shared, name="shared"),
    path("shared/<str:token>/download/", views.shared_download, name="shared-download"),
]
api_urlpatterns = [
    path("control-status/", api.ControlStatusView.as_view(), name="control-status"),
]
