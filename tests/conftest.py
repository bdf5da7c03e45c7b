"""The live platform fixtures are shared by tests/integration and tests/compat."""

pytest_plugins = ["tests.livefixtures"]
