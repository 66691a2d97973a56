"""Vendor, orgs, users, profiles, permission sets, licenses and API tokens."""
