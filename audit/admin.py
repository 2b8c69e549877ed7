from __future__ import annotations

from django.contrib import admin

from audit.models import AuditCheckpoint, AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: audit events can be looked at, never added, changed or deleted."""

    list_display = ("sequence", "created_at", "actor_name", "action", "outcome", "team_slug", "target_id")
    list_filter = ("outcome", "actor_kind")
    search_fields = ("action", "actor_name", "target_id", "request_id")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(admin.ModelAdmin):
    """Read-only, like the events: checkpoints are signed statements about the trail."""

    list_display = ("day", "kind", "first_sequence", "last_sequence", "count", "key_id", "created_at")
    list_filter = ("kind",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
