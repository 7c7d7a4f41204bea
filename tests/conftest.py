"""The shared fixtures live in tests/fixtures/; this loads them for every tier."""

pytest_plugins = ["tests.fixtures.databases", "tests.fixtures.alerts", "tests.fixtures.notify"]
