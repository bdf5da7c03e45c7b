"""A throwaway PostgreSQL cluster for tests of the add-on engine (never the platform's)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from moorage.addons.postgres.cluster import Cluster, find_bin_dir
from moorage.errors import ComponentFailed
from tests.livefixtures import PORTS

SCRATCH_PORTS = range(PORTS + 40, PORTS + 50)  # this test process's (see PORTS)


def free_port() -> int:
    for port in SCRATCH_PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        if not Path(f"/tmp/.s.PGSQL.{port}").exists():
            return port
    pytest.skip(f"no free port in {SCRATCH_PORTS}")


@contextmanager
def scratch_cluster(prefix: str) -> Iterator[Cluster]:
    """A started cluster in a temporary dir on a free port of SCRATCH_PORTS; stopped and
    removed after. Skips without root or PostgreSQL."""
    if os.geteuid() != 0:
        pytest.skip("needs root (runuser)")
    try:
        find_bin_dir()
    except ComponentFailed:
        pytest.skip("PostgreSQL is not installed")
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o711)  # the postgres user must reach its data dir below
    c = Cluster(root / "pg", free_port(), ["127.0.0.1"])
    try:
        c.ensure_running()
        yield c
    finally:
        if (c.data / "postmaster.pid").exists():
            c.stop()
        shutil.rmtree(root, ignore_errors=True)
