"""Invoices, credit notes, tax, numbering, documents and the billing run."""
