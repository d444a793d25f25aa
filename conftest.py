"""Root pytest configuration: infrastructure fixtures for every test tree."""

pytest_plugins = ["folio.devstack.testing"]
