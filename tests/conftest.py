"""The live platform fixtures are shared by tests/integration and tests/compat.

tests/swarm run only in the swarm pass of ./bin/test (``MOORAGE_TEST_RUNTIME=swarm``), which
builds a swarm of engines on this machine for them.

./bin/test runs the docker pass on two pytest-xdist workers (``-n 2 --dist loadfile -m "not
alone"``, then ``-m alone``: the test that restarts Docker Engine), each with a platform of
its own (tests/livefixtures.py gives every worker its own ports and loopback addresses). A
worker's modules share its platform one after another in no set order, so a test that makes
apps or groups under fixed names (the corpus imports, the shop) removes them when it ends.
"""

import os

pytest_plugins = ["tests.livefixtures"]
collect_ignore = [] if os.environ.get("MOORAGE_TEST_RUNTIME") == "swarm" else ["swarm"]
# xdist's workers run with COLUMNS=80; moor and the Heroku CLI would wrap their tables to it,
# where a pipe otherwise gets their full width
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)
