"""The billing run as a background task: queued from code or the back office, run once, never billing twice."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django_tasks import TaskResultStatus

from konto.accounts.models import Org
from konto.backoffice.tests.conftest import make_staff
from konto.billing.models import BillingRun, Invoice, InvoiceLine
from konto.billing.tasks import enqueue_billing_run, run_billing_task
from konto.core.exceptions import InvalidInput

from .helpers import build_catalog, german_org, monthly_contract

pytestmark = pytest.mark.django_db
JULY = date(2026, 7, 1)
START = "/backoffice/billing/billingrun/start/"


@pytest.fixture(autouse=True)
def _immediate_tasks(settings: Any) -> None:
    # Whatever KONTO_TASKS says, these tests run each task at enqueue.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}


@pytest.fixture
def orgs(db: None) -> list[Org]:
    """Five orgs with 1..5 monthly licenses from 2026-06-01: on 2026-07-01 each owes June and July."""
    catalog = build_catalog()
    orgs = [german_org(f"Firma {index} GmbH") for index in range(5)]
    for index, org in enumerate(orgs, start=1):
        monthly_contract(org, catalog, quantity=index)
    return orgs


def _counts() -> tuple[int, int, int]:
    return BillingRun.objects.count(), Invoice.objects.count(), InvoiceLine.objects.count()


# ---------------------------------------------------------------- the task


def test_enqueued_run_bills_the_due_charges_once(orgs):
    result = enqueue_billing_run(billing_date=JULY)

    assert result.status == TaskResultStatus.SUCCESSFUL
    run = BillingRun.objects.get()
    assert result.return_value == {
        "run": run.public_id,
        "billing_date": "2026-07-01",
        "status": "finished",
        "orgs_due": 5,
        "orgs_billed": 5,
        "orgs_failed": 0,
        "invoices_created": 5,
        "lines_created": 10,
    }
    assert _counts() == (1, 5, 10)
    assert sorted(Invoice.objects.values_list("org_id", flat=True)) == sorted(org.pk for org in orgs)


def test_enqueued_twice_bills_nothing_twice(orgs):
    enqueue_billing_run(billing_date="2026-07-01")
    again = run_billing_task.enqueue(billing_date="2026-07-01")

    assert again.status == TaskResultStatus.SUCCESSFUL
    summary = again.return_value
    assert summary is not None
    assert (summary["orgs_due"], summary["invoices_created"]) == (0, 0)
    assert _counts() == (2, 5, 10)  # a second run record, no second invoice


@pytest.mark.parametrize("bad", ["2026-13-01", "2026-02-30", "01.07.2026", ""])
def test_bad_date_is_refused_before_anything_is_queued(orgs, bad):
    with pytest.raises(InvalidInput) as refused:
        enqueue_billing_run(billing_date=bad)

    assert refused.value.fields.keys() == {"billing_date"}
    assert _counts() == (0, 0, 0)


def test_bad_date_fails_the_task_and_bills_nothing(orgs):
    result = run_billing_task.enqueue(billing_date="2026-07-32")

    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == "konto.core.exceptions.InvalidInput"
    assert _counts() == (0, 0, 0)


def test_no_workers_is_refused(orgs):
    with pytest.raises(InvalidInput):
        enqueue_billing_run(billing_date=JULY, workers=0)
    assert _counts() == (0, 0, 0)


# ---------------------------------------------------------------- the back office


@pytest.fixture
def billing_ops(db: None) -> Any:
    return make_staff("ops@vendor.example", "billing_ops")


@pytest.fixture
def support_agent(db: None) -> Any:
    return make_staff("support@vendor.example", "support_agent")


def test_billing_ops_start_a_run_from_the_runs_list(client, orgs, billing_ops):
    client.force_login(billing_ops)
    listing = client.get("/backoffice/billing/billingrun/")
    assert START in listing.content.decode()
    assert client.get(START).status_code == 200

    response = client.post(START, {"billing_date": "2026-07-01"})

    assert response.status_code == 302
    assert response["Location"] == "/backoffice/billing/billingrun/"
    run = BillingRun.objects.get()
    assert (run.billing_date, run.status, run.invoices_created) == (JULY, "finished", 5)
    assert _counts() == (1, 5, 10)
    assert [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)] == [
        ("success", "Billing run for 2026-07-01 started; it is listed here as soon as a worker has picked it up.")
    ]


def test_support_agent_may_not_start_a_run(client, orgs, support_agent):
    client.force_login(support_agent)

    assert START not in client.get("/backoffice/billing/billingrun/").content.decode()
    assert client.get(START).status_code == 403
    assert client.post(START, {"billing_date": "2026-07-01"}).status_code == 403
    assert _counts() == (0, 0, 0)


@pytest.mark.parametrize("bad", ["2026-13-01", "not a date", ""])
def test_bad_date_in_the_back_office_shows_an_error_and_runs_nothing(client, orgs, billing_ops, bad):
    client.force_login(billing_ops)

    response = client.post(START, {"billing_date": bad})

    assert response.status_code == 422
    assert response.context["form"].errors.keys() == {"billing_date"}
    assert _counts() == (0, 0, 0)
