"""Admin registrations: read-mostly views of monitoring rows for operators."""

from django.contrib import admin

from riskapp.monitoring.models import Alert, BaselinePin, Channel, Delivery, RunComparison, Schedule


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ["id", "organization", "asset", "profile", "kind", "cron", "interval_every", "interval_unit",
                    "enabled", "run_on_new_version", "last_fired_at"]
    list_filter = ["enabled", "kind"]
    raw_id_fields = ["asset", "profile", "periodic_task", "last_run", "created_by"]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["id", "organization", "asset", "profile", "kind", "severity", "status", "occurrences",
                    "last_seen_at"]
    list_filter = ["status", "severity", "kind"]
    raw_id_fields = ["asset", "profile", "baseline_run", "current_run", "first_run", "resolved_by_run",
                     "acknowledged_by", "resolved_by"]


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["id", "organization", "name", "kind", "min_severity", "enabled", "disabled_at"]
    list_filter = ["kind", "enabled"]
    # The signing secret is never shown again after creation, not even to operators.
    exclude = ["secret"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "channel", "alert", "event", "attempt", "status", "response_status", "attempted_at"]
    list_filter = ["status", "event"]
    raw_id_fields = ["channel", "alert", "previous"]


admin.site.register(BaselinePin)
admin.site.register(RunComparison)
