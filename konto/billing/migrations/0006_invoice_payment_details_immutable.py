"""PostgreSQL: an issued invoice's payment details (card, SEPA mandate, collection date) never change either.

Replaces the guard function of 0002 with the same checks plus `payment_details`;
the trigger itself stays. Status changes are still only refused back to draft
(paid → open, a payment taken back, is allowed by the transition table).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

# The SQL of 0002 (its long RAISE lines kept as they are there).
_GUARD = r"""
CREATE OR REPLACE FUNCTION billing_invoice_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'issued invoice % cannot be deleted', OLD.number
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (
        NEW.status = 'draft'
        OR NEW.number IS DISTINCT FROM OLD.number
        OR NEW.org_id <> OLD.org_id
        OR NEW.contract_id <> OLD.contract_id
        OR NEW.issue_date <> OLD.issue_date
        OR NEW.due_date <> OLD.due_date
        OR NEW.period_start <> OLD.period_start
        OR NEW.period_end <> OLD.period_end
        OR NEW.currency <> OLD.currency
        OR NEW.net_amount <> OLD.net_amount
        OR NEW.tax_amount <> OLD.tax_amount
        OR NEW.gross_amount <> OLD.gross_amount
        OR NEW.seller <> OLD.seller
        OR NEW.buyer <> OLD.buyer
        OR NEW.po_number <> OLD.po_number
        OR NEW.buyer_reference <> OLD.buyer_reference
        OR NEW.notes <> OLD.notes{extra}
    ) THEN
        RAISE EXCEPTION 'issued invoice % cannot be changed', OLD.number
                USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
"""

WITH_PAYMENT_DETAILS = _GUARD.replace("{extra}", "\n        OR NEW.payment_details <> OLD.payment_details")
WITHOUT_PAYMENT_DETAILS = _GUARD.replace("{extra}", "")


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(WITH_PAYMENT_DETAILS, params=None)


def backwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(WITHOUT_PAYMENT_DETAILS, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0005_invoice_delivery")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
