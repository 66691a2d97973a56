"""The append-only audit trail shared by every domain."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """Who did what to which object, with the state before and after.

    Rows are never updated or deleted by the application. `org_id` and
    `actor_id` are plain ids rather than foreign keys so that the trail
    outlives what it describes and the kernel depends on no domain app.
    """

    org_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_email = models.CharField(max_length=254, blank=True)  # snapshot at the time of the event
    action = models.CharField(max_length=64)  # e.g. "user.invited", "org.billing_profile_changed"
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)  # the object's public id
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [models.Index(fields=["org_id", "-created_at"], name="audit_org_created")]

    def __str__(self) -> str:
        return f"{self.action} {self.object_id}"
