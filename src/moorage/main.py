"""The ``moor`` entry point: client commands plus the server-side ``server`` and ``setup``."""

from __future__ import annotations

from moorage.cli import addons, apps, auth, config, container, ps, releases, stack  # noqa: F401
from moorage.cli.base import cli
from moorage.server.cli import server, setup

cli.add_command(server)
cli.add_command(setup)


def main() -> None:
    cli()
