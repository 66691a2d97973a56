"""Forms of My Account, one module per area."""
