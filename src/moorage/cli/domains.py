"""domains, domains:add, domains:verify, domains:remove."""

from __future__ import annotations

import time

import click

from moorage.cli.base import app_option, cli, client, json_option, out, print_json, table
from moorage.client import domains as api
from moorage.errors import InvalidParams
from moorage.schemas.domains import Domain
from moorage.spec.status import ProofStatus

WAIT_POLL_SECONDS = 5.0


@cli.command("domains")
@app_option
@json_option
def domains_list(app: str, as_json: bool) -> None:
    """The host names the router sends to the app."""
    rows = api.domains(client(), app)
    if as_json:
        print_json([d.model_dump(mode="json") for d in rows])
        return
    table(
        ["hostname", "kind", "status", "proven", "point it at (CNAME)"],
        [(d.hostname, d.kind, d.status, _proven(d), d.cname or "") for d in rows],
    )


def _proven(domain: Domain) -> str:
    if domain.moorage is None:
        return ""  # the platform's own name
    return "yes" if domain.moorage.verification.verified else "no"


def _verified(domain: Domain) -> bool:
    return domain.moorage is not None and domain.moorage.verification.verified


def _proof_hint(domain: Domain, app: str) -> str:
    if domain.moorage is None:
        return ""  # the platform's own name needs no proof
    proof = domain.moorage.verification
    return (
        f"To prove the name is yours, add a DNS TXT record {proof.record} with the value "
        f'"{proof.value}", then run `moor domains:verify {domain.hostname} -a {app}`.'
    )


@cli.command("domains:add")
@click.argument("hostname")
@app_option
@json_option
def domains_add(hostname: str, app: str, as_json: bool) -> None:
    """Route HOSTNAME to the app (point its DNS at this platform's router)."""
    d = api.add_domain(client(), app, hostname)
    if as_json:
        print_json(d.model_dump(mode="json"))
        return
    out.print(f"Adding {d.hostname} to {app}... done; point its DNS (CNAME) at {d.cname}.")
    if d.status == ProofStatus.PENDING:
        out.print(f"It is routed once DNS proves it yours. {_proof_hint(d, app)}")
    elif not _verified(d):
        out.print(f"Until proven, another owner who proves it takes it. {_proof_hint(d, app)}")


@cli.command("domains:verify")
@click.argument("hostname")
@app_option
@click.option("--wait", is_flag=True, help="Look again every 5 s until DNS shows the proof.")
@json_option
def domains_verify(hostname: str, app: str, wait: bool, as_json: bool) -> None:
    """Prove HOSTNAME is yours: look its DNS TXT record up now."""
    while True:
        try:
            d = api.verify_domain(client(), app, hostname)
            break
        except InvalidParams:
            if not wait:
                raise
            time.sleep(WAIT_POLL_SECONDS)
    if as_json:
        print_json(d.model_dump(mode="json"))
        return
    out.print(f"{d.hostname} is proven yours; status: {d.status}.")


@cli.command("domains:remove")
@click.argument("hostname")
@app_option
def domains_remove(hostname: str, app: str) -> None:
    """Stop routing HOSTNAME to the app."""
    api.remove_domain(client(), app, hostname)
    out.print(f"Removing {hostname} from {app}... done")
