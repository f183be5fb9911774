"""Admin views of screening rows (read-mostly: detectors and events come from services)."""

from django.contrib import admin

from riskapp.screening.models import ScreeningDetector, ScreeningEvent, ScreeningPolicy, ScreeningToken


@admin.register(ScreeningDetector)
class ScreeningDetectorAdmin(admin.ModelAdmin):
    list_display = ["id", "asset", "version", "run", "either_false_positive_rate", "detection_rate", "created_at"]
    readonly_fields = [f.name for f in ScreeningDetector._meta.fields]


@admin.register(ScreeningToken)
class ScreeningTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "asset", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["key_hash", "prefix"]


@admin.register(ScreeningEvent)
class ScreeningEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "asset", "input_sha256", "flags", "caller"]
    readonly_fields = [f.name for f in ScreeningEvent._meta.fields]


admin.site.register(ScreeningPolicy)
