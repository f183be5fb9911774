"""Admin views of the registry: read-mostly, and the endpoint's auth header never appears."""

from django.contrib import admin

from riskapp.assets.models import Dataset, EndpointConfig, ModelAsset, ModelVersion


class EndpointConfigInline(admin.StackedInline):
    model = EndpointConfig
    exclude = ["auth_header_value"]  # a secret: never shown back
    can_delete = False
    extra = 0


@admin.register(ModelAsset)
class ModelAssetAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "task", "risk_tier", "sector", "current_version", "updated_at"]
    list_filter = ["risk_tier", "sector", "task"]
    search_fields = ["name", "organization__name"]
    raw_id_fields = ["owner", "created_by", "current_version", "evaluation_dataset", "training_dataset",
                     "holdout_dataset"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["asset", "label", "format", "status", "sha256", "size_bytes", "created_at"]
    list_filter = ["status", "format"]
    search_fields = ["asset__name", "label", "sha256"]
    # Status and hashes come from intake and validation only; the admin must not fake a validation.
    readonly_fields = ["artifact", "sha256", "size_bytes", "status", "status_reason", "white_box", "validated_at",
                       "created_by", "created_at"]
    inlines = [EndpointConfigInline]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "role", "source", "status", "sample_count", "created_at"]
    list_filter = ["role", "source", "status"]
    search_fields = ["name", "organization__name", "sha256"]
    readonly_fields = ["file", "sha256", "content_sha256", "size_bytes", "sample_count", "shape", "nb_classes",
                       "status", "status_reason", "created_by", "created_at"]
