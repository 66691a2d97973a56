"""Konto: the self-service account and billing portal for SaaS vendors."""
