"""Operator commands: API tokens."""
