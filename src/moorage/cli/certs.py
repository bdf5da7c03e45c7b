"""certs:ca: the platform CA, for clients that talk to the edge over HTTPS."""

from __future__ import annotations

import subprocess
from pathlib import Path

import click

from moorage.cli.base import cli, client, out
from moorage.errors import InvalidParams

SYSTEM_STORE = Path("/usr/local/share/ca-certificates")
DOCKER_CERTS = Path("/etc/docker/certs.d")


@cli.command("certs:ca")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the CA certificate to this file instead of printing it.",
)
@click.option(
    "--install",
    is_flag=True,
    help="Trust it on this machine: the system store (update-ca-certificates) and "
    "Docker's certs.d for the registry.",
)
def certs_ca(output: Path | None, install: bool) -> None:
    """Print the platform CA (PEM) that signs api., registry. and app hosts.

    Clients trust it with NODE_EXTRA_CA_CERTS (the Heroku CLI), curl --cacert, or
    --install (system store and Docker; needs root)."""
    c = client()
    pem = c.request_text("GET", "/moorage/ca.crt")
    info = c.info()
    if install:
        _install(pem, info)
        return
    if output is None:
        click.echo(pem, nl=False)
        return
    output.write_text(pem)
    out.print(
        f"Wrote the platform CA to {output}. For the Heroku CLI: "
        f"export NODE_EXTRA_CA_CERTS={output.resolve()}"
    )


def _install(pem: str, info: dict[str, object]) -> None:
    domain, registry = str(info["domain"]), str(info.get("https_registry", ""))
    targets = [SYSTEM_STORE / f"moorage-{domain}.crt"]
    if registry:
        targets.append(DOCKER_CERTS / registry / "ca.crt")
    try:
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(pem)
        subprocess.run(["update-ca-certificates"], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise InvalidParams(
            f"Could not install the CA ({exc}). Run `moor certs:ca --install` as root."
        ) from exc
    for target in targets:
        out.print(f"Installed {target}")
