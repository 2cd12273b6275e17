"""Admin: organisations, memberships and read-mostly views of uploads and audits."""
from django.contrib import admin

from audits.models import Audit, Dataset, Membership, ModelArtifact, Organisation


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "organisation", "role")
    list_filter = ("organisation", "role")


@admin.register(ModelArtifact)
class ModelArtifactAdmin(admin.ModelAdmin):
    list_display = ("name", "organisation", "architecture", "num_parameters", "created_at")
    list_filter = ("organisation",)
    readonly_fields = ("uid", "sha256", "files", "storage_prefix", "labels", "num_parameters", "architecture")


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "organisation", "rows", "file_format", "created_at")
    list_filter = ("organisation",)
    readonly_fields = ("uid", "sha256", "parquet_path", "columns", "rows")


@admin.register(Audit)
class AuditAdmin(admin.ModelAdmin):
    list_display = ("pk", "organisation", "model", "dataset", "status", "verdict", "created_at")
    list_filter = ("organisation", "status", "verdict")
    readonly_fields = ("report", "config", "error")
