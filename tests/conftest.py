"""The live platform fixtures are shared by tests/integration and tests/compat.

tests/swarm run only in the swarm pass of ./bin/test (``MOORAGE_TEST_RUNTIME=swarm``), which
builds a swarm of engines on this machine for them."""

import os

pytest_plugins = ["tests.livefixtures"]
collect_ignore = [] if os.environ.get("MOORAGE_TEST_RUNTIME") == "swarm" else ["swarm"]
