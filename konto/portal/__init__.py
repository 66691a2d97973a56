"""My Account: the customer-facing web UI."""
