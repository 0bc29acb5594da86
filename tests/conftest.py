"""Test configuration: fixtures live in tests/fixtures.py (real servers, once per session)."""

pytest_plugins = ["tests.fixtures"]
