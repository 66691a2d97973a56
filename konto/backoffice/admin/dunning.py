"""Dunning in the back office: the one dunning schedule (edited by billing operations) and the notices taken.

The schedule is a single row: the list goes straight to its change page, it
is never added or deleted here, and a change is audited. Who may change it is
the model permission "payments.change_dunningpolicy", held by the billing
operations group (konto/backoffice/roles.py); everyone else with access sees it
read-only. Notices are the record of what was sent: read-only.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from konto.accounts.actors import actor_from_request
from konto.backoffice.admin._common import ReadOnlyAdminMixin
from konto.backoffice.admin_site import backoffice_site
from konto.backoffice.generics import ModelAdmin, ModelForm
from konto.core.audit import record_event
from konto.payments.models import DunningNotice, DunningPolicy
from konto.payments.services.standing import get_dunning_policy

STEP_FIELDS = ("reminder_days", "second_reminder_days", "final_notice_days", "suspension_days")
STEP_NAMES = (_("reminder"), _("second reminder"), _("final notice"), _("suspension"))
MAX_STEP_DAYS = 365
MAX_RETRIES = 5
MAX_RETRY_DAY = 60


class DunningPolicyForm(ModelForm[DunningPolicy]):
    retry_days = forms.CharField(
        label=_("Retry failed card payments after (days)"),
        help_text=_("Days after the first failure, separated by commas, e.g. 1, 3, 7."),
        max_length=50,
    )

    suspension_webhook_url = forms.URLField(
        label=_("Suspension webhook URL"), required=False, max_length=200, assume_scheme="https"
    )

    class Meta:
        model = DunningPolicy
        fields = (*STEP_FIELDS, "retry_days", "suspension_webhook_url")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound and isinstance(self.instance.retry_days, list):
            self.initial["retry_days"] = ", ".join(str(day) for day in self.instance.retry_days)

    def clean_retry_days(self) -> list[int]:
        text: str = self.cleaned_data.get("retry_days", "")
        message = _(
            "Enter 1 to %(max)d whole numbers of days from 1 to %(last)d, rising, separated by commas, e.g. 1, 3, 7."
        ) % {"max": MAX_RETRIES, "last": MAX_RETRY_DAY}
        parts = [part.strip() for part in text.split(",")]
        # isdecimal, not isdigit: "²" is a digit but int() refuses it.
        if len(parts) > MAX_RETRIES or not all(part.isdecimal() for part in parts):
            raise forms.ValidationError(message, code="invalid_retry_days")
        days = [int(part) for part in parts]
        if days[0] < 1 or days[-1] > MAX_RETRY_DAY or any(a >= b for a, b in pairwise(days)):
            raise forms.ValidationError(message, code="invalid_retry_days")
        return days

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if any(cleaned.get(name) is None for name in STEP_FIELDS):
            return cleaned  # a field error is shown already
        days = [int(cleaned[name]) for name in STEP_FIELDS]
        if days[0] < 1 or days[-1] > MAX_STEP_DAYS:
            message = _("Each step is between 1 and %(max)d days after the due date.") % {"max": MAX_STEP_DAYS}
            self.add_error(STEP_FIELDS[0] if days[0] < 1 else STEP_FIELDS[-1], message)
            return cleaned
        for index in range(1, len(days)):
            if days[index] <= days[index - 1]:
                out_of_order = _(
                    "The %(step)s must come later than the %(previous)s: %(days)d days is not more than %(before)d."
                )
                self.add_error(
                    STEP_FIELDS[index],
                    forms.ValidationError(
                        out_of_order,
                        code="steps_out_of_order",
                        params={
                            "step": STEP_NAMES[index],
                            "previous": STEP_NAMES[index - 1],
                            "days": days[index],
                            "before": days[index - 1],
                        },
                    ),
                )
                break
        return cleaned


def _audited(policy: DunningPolicy, name: str) -> Any:
    value = getattr(policy, name)
    if name == "suspension_webhook_url" and value:
        parts = urlsplit(value)
        return f"{parts.scheme}://{parts.hostname}/…"  # the path may carry the receiver's token
    return value


@admin.register(DunningPolicy, site=backoffice_site)
class DunningPolicyAdmin(ModelAdmin[DunningPolicy]):
    """The one dunning schedule: the list goes straight to it; changed by billing operations only."""

    form = DunningPolicyForm
    fieldsets = (
        (
            _("Dunning steps"),
            {
                "fields": STEP_FIELDS,
                "description": _(
                    "Days after an invoice's due date. The final notice makes the org overdue (purchases "
                    "blocked); suspension notifies the vendor's product. Paying clears both at once."
                ),
            },
        ),
        (_("Failed card payments"), {"fields": ("retry_days",)}),
        (
            _("Vendor's product"),
            {
                "fields": ("suspension_webhook_url",),
                "description": _(
                    "Suspensions and reactivations are posted here as signed JSON (KONTO_WEBHOOK_SECRET); "
                    "empty: nothing is sent."
                ),
            },
        ),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DunningPolicy | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            return super().changelist_view(request, extra_context)  # Django's refusal
        policy = get_dunning_policy()
        return HttpResponseRedirect(reverse("admin:payments_dunningpolicy_change", args=[policy.pk]))

    def save_model(
        self, request: HttpRequest, obj: DunningPolicy, form: ModelForm[DunningPolicy], change: bool
    ) -> None:
        before = DunningPolicy.objects.filter(pk=obj.pk).first()
        super().save_model(request, obj, form, change)
        if before is None or not form.changed_data:
            return
        record_event(
            actor=actor_from_request(request),
            org_id=None,
            action="dunning_policy.changed",
            object_type="dunning_policy",
            object_id=str(obj.pk),
            before={name: _audited(before, name) for name in form.changed_data},
            after={name: _audited(obj, name) for name in form.changed_data},
        )


@admin.register(DunningNotice, site=backoffice_site)
class DunningNoticeAdmin(ReadOnlyAdminMixin, ModelAdmin[DunningNotice]):
    """Every dunning step taken: which invoice, which level, when it was due, what was open then."""

    list_display = ("created_at", "invoice_number", "org_name", "level", "due_on", "open_amount_text")
    list_filter = ("level", "due_on", "org__status")
    search_fields = ("invoice__number", "org__legal_name")
    date_hierarchy = "created_at"
    list_per_page = 100
    fields = ("invoice_number", "org_name", "level", "due_on", "open_amount_text", "created_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[DunningNotice]:
        return super().get_queryset(request).select_related("invoice", "org")

    @admin.display(description=_("invoice"), ordering="invoice__number")
    def invoice_number(self, notice: DunningNotice) -> str:
        return str(notice.invoice.number)

    @admin.display(description=_("org"), ordering="org__legal_name")
    def org_name(self, notice: DunningNotice) -> str:
        return notice.org.legal_name

    @admin.display(description=_("open amount"), ordering="open_amount")
    def open_amount_text(self, notice: DunningNotice) -> str:
        return f"{notice.open_amount} {notice.invoice.currency}"
