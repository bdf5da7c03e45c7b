"""The live platform fixtures are shared by tests/integration and tests/compat.

tests/swarm run only in the swarm pass of ./bin/test (``MOORAGE_TEST_RUNTIME=swarm``), which
builds a swarm of engines on this machine for them.

./bin/test runs the suite on two pytest-xdist workers (``--dist loadgroup``), each with a
platform of its own (tests/livefixtures.py gives every worker its own ports). A module is
one group, so its fixtures are made once; tests/compat is one group, as its sessions share
the host's port 443 and /etc/hosts. Tests marked ``alone`` (Docker Engine restarted under
the platform) run afterwards, with nothing beside them.
"""

import os

import pytest

pytest_plugins = ["tests.livefixtures"]
collect_ignore = [] if os.environ.get("MOORAGE_TEST_RUNTIME") == "swarm" else ["swarm"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.nodeid.split("::")[0]
        group = "tests/compat" if module.startswith("tests/compat/") else module
        item.add_marker(pytest.mark.xdist_group(group))
