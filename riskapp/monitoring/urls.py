"""Web pages (urlpatterns) and extra API routes (api_urlpatterns) of the monitoring app."""

from django.urls import path

from riskapp.monitoring import views

urlpatterns = [
    path("", views.alert_list, name="alerts"),
    path("alerts/<int:alert_id>/", views.alert_detail, name="alert"),
    path("alerts/<int:alert_id>/acknowledge/", views.alert_acknowledge_view, name="alert-acknowledge"),
    path("alerts/<int:alert_id>/resolve/", views.alert_resolve_view, name="alert-resolve"),
    path("schedules/", views.schedule_list, name="schedules"),
    path("schedules/new/<int:asset_id>/", views.schedule_create_view, name="schedule-create"),
    path("schedules/<int:schedule_id>/pause/", views.schedule_pause_view, name="schedule-pause"),
    path("schedules/<int:schedule_id>/resume/", views.schedule_resume_view, name="schedule-resume"),
    path("schedules/<int:schedule_id>/run-now/", views.schedule_run_now_view, name="schedule-run-now"),
    path("schedules/<int:schedule_id>/delete/", views.schedule_delete_view, name="schedule-delete"),
    path("baselines/pin/<int:run_id>/", views.baseline_pin_view, name="baseline-pin"),
    path("baselines/unpin/<int:asset_id>/<int:profile_id>/", views.baseline_unpin_view, name="baseline-unpin"),
    path("channels/new/", views.channel_create_view, name="channel-create"),
    path("channels/<int:channel_id>/test/", views.channel_test_view, name="channel-test"),
    path("channels/<int:channel_id>/toggle/", views.channel_toggle_view, name="channel-toggle"),
    path("channels/<int:channel_id>/delete/", views.channel_delete_view, name="channel-delete"),
]
api_urlpatterns = []
