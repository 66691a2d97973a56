"""Billing services: numbering, invoices, credit notes, the billing run, document snapshots."""
