"""PostgreSQL triggers that keep issued invoices and credit notes immutable.

The services already refuse every change; these triggers refuse it for any
other writer too (a shell, a bad migration, raw SQL). An invoice that is not
a draft keeps its number, dates, totals, snapshots and lines; its status may
only move along the transition table, and paid/credited amounts may change.
SQLite has no such guard (only the service layer).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

CREATE = r"""
CREATE OR REPLACE FUNCTION billing_invoice_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'issued invoice % cannot be deleted', OLD.number USING ERRCODE = 'integrity_constraint_violation';
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
        OR NEW.notes <> OLD.notes
    ) THEN
        RAISE EXCEPTION 'issued invoice % cannot be changed', OLD.number USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER billing_invoice_guard BEFORE UPDATE OR DELETE ON billing_invoice
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_guard();

CREATE OR REPLACE FUNCTION billing_invoice_part_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        target := NEW.invoice_id;
    ELSE
        target := OLD.invoice_id;
    END IF;
    IF EXISTS (SELECT 1 FROM billing_invoice WHERE id = target AND status <> 'draft') THEN
        RAISE EXCEPTION 'lines and taxes of issued invoice % cannot be changed', target
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.invoice_id <> OLD.invoice_id
       AND EXISTS (SELECT 1 FROM billing_invoice WHERE id = NEW.invoice_id AND status <> 'draft') THEN
        RAISE EXCEPTION 'lines and taxes of issued invoice % cannot be changed', NEW.invoice_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER billing_invoiceline_guard BEFORE INSERT OR UPDATE OR DELETE ON billing_invoiceline
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_part_guard();
CREATE TRIGGER billing_invoicetax_guard BEFORE INSERT OR UPDATE OR DELETE ON billing_invoicetax
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_part_guard();

CREATE OR REPLACE FUNCTION billing_credit_note_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'issued credit notes cannot be changed or deleted' USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER billing_creditnote_guard BEFORE UPDATE OR DELETE ON billing_creditnote
    FOR EACH ROW EXECUTE FUNCTION billing_credit_note_guard();
"""

DROP = r"""
DROP TRIGGER IF EXISTS billing_creditnote_guard ON billing_creditnote;
DROP FUNCTION IF EXISTS billing_credit_note_guard();
DROP TRIGGER IF EXISTS billing_invoicetax_guard ON billing_invoicetax;
DROP TRIGGER IF EXISTS billing_invoiceline_guard ON billing_invoiceline;
DROP FUNCTION IF EXISTS billing_invoice_part_guard();
DROP TRIGGER IF EXISTS billing_invoice_guard ON billing_invoice;
DROP FUNCTION IF EXISTS billing_invoice_guard();
"""


def create_guards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_guards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(create_guards, drop_guards, elidable=False)]
