"""Contract use cases: pricing previews, placing orders, creating contracts."""
