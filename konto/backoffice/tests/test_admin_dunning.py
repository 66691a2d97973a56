"""The dunning schedule and notices in the back office: one schedule, edited by billing operations only, audited."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from konto.backoffice.tests.forms import admin_form_data
from konto.core.models import AuditEvent
from konto.payments.models import DunningNotice, DunningPolicy
from konto.payments.services.standing import get_dunning_policy
from konto.payments.tests.dunning_helpers import customer, issued_invoice

pytestmark = pytest.mark.django_db

POLICIES = "/backoffice/payments/dunningpolicy/"
NOTICES = "/backoffice/payments/dunningnotice/"


def change_url() -> str:
    return f"{POLICIES}{get_dunning_policy().pk}/change/"


def schedule() -> tuple[int, int, int, int, list[int], str]:
    policy = DunningPolicy.objects.get()
    return (
        policy.reminder_days,
        policy.second_reminder_days,
        policy.final_notice_days,
        policy.suspension_days,
        policy.retry_days,
        policy.suspension_webhook_url,
    )


def test_the_list_goes_straight_to_the_one_schedule_created_with_the_defaults(client, billing_ops):
    client.force_login(billing_ops)

    response = client.get(POLICIES)

    policy = DunningPolicy.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{POLICIES}{policy.pk}/change/"
    assert schedule() == (3, 14, 28, 45, [1, 3, 7], "")
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert 'value="1, 3, 7"' in page.content.decode()


def test_billing_ops_change_the_schedule_and_the_change_is_audited(client, billing_ops):
    client.force_login(billing_ops)
    data = admin_form_data(client, change_url())
    data.update(
        reminder_days="5",
        second_reminder_days="15",
        final_notice_days="30",
        suspension_days="60",
        retry_days="2, 4",
        suspension_webhook_url="https://crm.example/hooks/konto?token=s3cret",
    )

    response = client.post(change_url(), data)

    assert response.status_code == 302
    assert schedule() == (5, 15, 30, 60, [2, 4], "https://crm.example/hooks/konto?token=s3cret")
    event = AuditEvent.objects.get(action="dunning_policy.changed")
    assert event.actor_email == "ops@vendor.example"
    assert event.before == {
        "reminder_days": 3,
        "second_reminder_days": 14,
        "final_notice_days": 28,
        "suspension_days": 45,
        "retry_days": [1, 3, 7],
        "suspension_webhook_url": "",
    }
    assert event.after == {
        "reminder_days": 5,
        "second_reminder_days": 15,
        "final_notice_days": 30,
        "suspension_days": 60,
        "retry_days": [2, 4],
        "suspension_webhook_url": "https://crm.example/…",  # the token in the URL stays out of the trail
    }


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"second_reminder_days": "3"},
            "second_reminder_days",
            "The second reminder must come later than the reminder: 3 days is not more than 3.",
        ),
        (
            {"suspension_days": "20"},
            "suspension_days",
            "The suspension must come later than the final notice: 20 days is not more than 28.",
        ),
        ({"reminder_days": "0"}, "reminder_days", "Each step is between 1 and 365 days after the due date."),
        ({"suspension_days": "400"}, "suspension_days", "Each step is between 1 and 365 days after the due date."),
        (
            {"retry_days": "7, 3"},
            "retry_days",
            "Enter 1 to 5 whole numbers of days from 1 to 60, rising, separated by commas, e.g. 1, 3, 7.",
        ),
        (
            {"retry_days": "1, x"},
            "retry_days",
            "Enter 1 to 5 whole numbers of days from 1 to 60, rising, separated by commas, e.g. 1, 3, 7.",
        ),
        (
            {"retry_days": "1, ²"},  # a digit to str.isdigit, not a number to int()
            "retry_days",
            "Enter 1 to 5 whole numbers of days from 1 to 60, rising, separated by commas, e.g. 1, 3, 7.",
        ),
        (
            {"retry_days": "1,, 3"},
            "retry_days",
            "Enter 1 to 5 whole numbers of days from 1 to 60, rising, separated by commas, e.g. 1, 3, 7.",
        ),
        (
            {"retry_days": "0, 3"},
            "retry_days",
            "Enter 1 to 5 whole numbers of days from 1 to 60, rising, separated by commas, e.g. 1, 3, 7.",
        ),
        (
            {"retry_days": "1, 2, 3, 4, 5, 6"},
            "retry_days",
            "Enter 1 to 5 whole numbers of days from 1 to 60, rising, separated by commas, e.g. 1, 3, 7.",
        ),
        ({"suspension_webhook_url": "not a url"}, "suspension_webhook_url", "Enter a valid URL."),
    ],
)
def test_a_bad_schedule_is_refused_with_a_message_and_nothing_changes(client, billing_ops, changes, field, message):
    client.force_login(billing_ops)
    data = admin_form_data(client, change_url())
    data.update(changes)

    response = client.post(change_url(), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [message]
    assert schedule() == (3, 14, 28, 45, [1, 3, 7], "")
    assert not AuditEvent.objects.filter(action="dunning_policy.changed").exists()


def test_support_agents_see_the_schedule_but_cannot_change_it(client, support_agent):
    client.force_login(support_agent)
    url = change_url()
    data = {"reminder_days": "5", "second_reminder_days": "15", "final_notice_days": "30", "suspension_days": "60"}

    page = client.get(url)
    response = client.post(url, {**data, "retry_days": "1, 3, 7", "suspension_webhook_url": ""})

    assert page.status_code == 200
    assert 'name="reminder_days"' not in page.content.decode()  # read-only
    assert response.status_code == 403
    assert schedule() == (3, 14, 28, 45, [1, 3, 7], "")


def test_account_executives_do_not_see_dunning(client, account_executive):
    client.force_login(account_executive)

    assert client.get(change_url()).status_code == 403
    assert client.get(NOTICES).status_code == 403


def test_nobody_adds_or_deletes_the_schedule(client, superuser):
    client.force_login(superuser)
    url = change_url()

    assert client.get(f"{POLICIES}add/").status_code == 403
    assert client.post(url.replace("/change/", "/delete/"), {"post": "yes"}).status_code == 403
    assert DunningPolicy.objects.count() == 1


def test_notices_are_listed_read_only(client, billing_ops):
    invoice = issued_invoice(customer())
    DunningNotice.objects.create(
        invoice=invoice, org=invoice.org, level="reminder", due_on=date(2026, 7, 18), open_amount=Decimal("297.50")
    )
    client.force_login(billing_ops)

    page = client.get(NOTICES)
    filtered = client.get(NOTICES, {"level__exact": "final_notice"})
    detail = client.get(f"{NOTICES}{DunningNotice.objects.get().pk}/change/")

    assert page.status_code == 200
    content = page.content.decode()
    assert "RE-2026-000001" in content
    assert "Bäckerei Test GmbH" in content
    assert "297.50 EUR" in content
    assert "RE-2026-000001" not in filtered.content.decode()
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert client.get(f"{NOTICES}add/").status_code == 403


def test_the_notice_list_has_constant_queries(client, billing_ops):
    client.force_login(billing_ops)

    def add_notice(name: str) -> None:
        invoice = issued_invoice(customer(name))
        DunningNotice.objects.create(
            invoice=invoice, org=invoice.org, level="reminder", due_on=date(2026, 7, 18), open_amount=Decimal("297.50")
        )

    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            assert client.get(NOTICES).status_code == 200
        return len(context.captured_queries)

    add_notice("Eins GmbH")
    client.get(NOTICES)
    with_one = queries()
    for number in range(3):
        add_notice(f"Kunde {number} GmbH")

    assert DunningNotice.objects.count() == 4
    assert queries() == with_one
