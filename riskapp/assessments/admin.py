"""Admin registrations: runs and their results are read-mostly; profiles editable by staff."""

from django.contrib import admin

from riskapp.assessments.models import AssessmentRun, CheckResult, Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "organization", "is_builtin", "created_at"]
    list_filter = ["is_builtin"]
    search_fields = ["name", "slug"]


class CheckResultInline(admin.TabularInline):
    model = CheckResult
    extra = 0
    fields = ["order", "kind", "status", "verdict", "duration_s", "queries"]
    readonly_fields = fields
    can_delete = False


@admin.register(AssessmentRun)
class AssessmentRunAdmin(admin.ModelAdmin):
    list_display = ["id", "asset", "profile", "status", "progress", "created_at", "worker_host"]
    list_filter = ["status", "trigger"]
    search_fields = ["asset__name"]
    raw_id_fields = ["asset", "version", "profile", "evaluation_dataset", "training_dataset", "holdout_dataset",
                     "rerun_of", "requested_by"]
    inlines = [CheckResultInline]
