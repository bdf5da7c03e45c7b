"""Server-side commands: ``moor server`` and ``moor setup`` (they import the server package)."""

from __future__ import annotations

import faulthandler
import logging
import os
import threading
from pathlib import Path

import click
import uvicorn

from moorage.server.app import create_app
from moorage.server.platform import build, prepare_store
from moorage.server.services import auth
from moorage.settings import Settings


@click.command("server")
def server() -> None:
    """Run the control plane: API, reconciler, and supervision of router, registry, PostgreSQL.

    Killing it stops none of them; started again, it adopts what runs.
    """
    faulthandler.enable()  # a crash in C code leaves the threads' stacks in the log
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # httpx logs every request's full URL at INFO: drain and restore URLs carry passwords
    # and signatures in their user part and query
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = Settings.from_env()
    platform = build(settings)  # a MoorageError: one line and its exit code (cli.base)
    (settings.data_dir / "server.pid").write_text(str(os.getpid()))
    (settings.data_dir / "server.pid").chmod(0o600)
    stop = threading.Event()
    platform.start_background(stop)
    try:
        uvicorn.run(
            create_app(platform),
            host=settings.api_host,
            port=settings.api_port,
            log_level="warning",
            access_log=False,
            http="h11",  # its 16 KiB limit on a request head holds (httptools has none)
            # the peer stays the peer: deps.client_address believes X-Forwarded-For only
            # from the edge, which proves itself (uvicorn would trust any local caller)
            proxy_headers=False,
        )
    finally:
        logging.getLogger(__name__).warning("moor server stops")
        stop.set()


@click.command("setup")
@click.option("--email", default="admin@moorage.localhost", show_default=True)
@click.option(
    "--token-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the new token to this file (mode 0600) instead of printing it.",
)
def setup(email: str, token_file: Path | None) -> None:
    """Create the state store, the first user and an API token for it."""
    settings = Settings.from_env()
    store = prepare_store(settings)
    with store.session() as s:
        user = auth.ensure_user(s, email)
        token = auth.create_token(s, user, "created by moor setup")
    if token_file is None:
        click.echo(token)
        return
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
