"""Shared pytest set-up. Tiers: tests/unit, integration, e2e, browser, chaos (see README)."""
