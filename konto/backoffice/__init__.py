"""The vendor's back office (Django admin for staff)."""
