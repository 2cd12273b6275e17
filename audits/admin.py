"""Admin: organisations, memberships and read-mostly views of uploads and audits."""
from django.contrib import admin

from audits.models import Audit, AuditEvent, Dataset, Membership, ModelArtifact, Organisation, Policy
from audits.services.policies import policy_new_version


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "organisation", "role")
    list_filter = ("organisation", "role")
    # Roles are set here: a regulator is a member of their own body's organisation.
    list_editable = ("role",)
    search_fields = ("user__username", "organisation__name")


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


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    """Saving a policy never changes it: it stores the edit as the next version."""

    list_display = ("organisation", "name", "version", "created_at", "created_by")
    list_filter = ("organisation", "name")
    readonly_fields = ("version", "created_by", "created_at")

    def save_model(self, request, obj, form, change):
        saved = policy_new_version(organisation=obj.organisation, user=request.user,
                                   name=obj.name, thresholds=obj.thresholds)
        obj.pk, obj.version = saved.pk, saved.version

    def has_delete_permission(self, request, obj=None):
        return False  # audits point at the version they were judged by


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail, read only: it is append-only everywhere."""

    list_display = ("created_at", "organisation", "actor_name", "verb", "audit")
    list_filter = ("organisation", "verb")
    search_fields = ("actor_name", "comment")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
