"""Shared kernel: money, periods, errors, identifiers, audit."""
