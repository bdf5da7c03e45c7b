"""certs: custom certificates for an app's domains (SNI endpoints), and certs:ca, the
platform CA for clients that talk to the edge over HTTPS."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import click

from moorage.cli.base import app_option, cli, client, json_option, out, print_json, table
from moorage.client.info import info as platform_info
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
    info = platform_info(c).model_dump(mode="json")
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


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidParams(f"Could not read the {what} {path}: {exc}.") from exc


def _pick(app: str, name: str | None) -> str:
    """The certificate to act on: ``name``, or the app's only one."""
    if name:
        return name
    rows = client().request("GET", f"/apps/{app}/sni-endpoints")
    if len(rows) == 1:
        return str(rows[0]["name"])
    if not rows:
        raise InvalidParams(f"{app} has no custom certificate. Add one with `moor certs:add`.")
    names = ", ".join(r["name"] for r in rows)
    raise InvalidParams(f"{app} has several certificates ({names}); choose one with --name.")


def _hosts(cert: dict[str, Any]) -> str:
    return ", ".join(cert["ssl_cert"]["cert_domains"])


def _report(app: str, cert: dict[str, Any], verb: str) -> None:
    domains = [
        d["hostname"]
        for d in client().request("GET", f"/apps/{app}/domains")
        if (d.get("sni_endpoint") or {}).get("name") == cert["name"]
    ]
    facts = cert["ssl_cert"]
    out.print(
        f"{verb} {cert['name']} on {app}: {_hosts(cert)}, expires {facts['expires_at']}"
        f"{'' if facts['ca_signed?'] else ' (not signed by a CA this host trusts)'}."
    )
    if domains:
        out.print(f"Serving it for {', '.join(domains)}.")
    else:
        out.print(f"No domain of {app} uses it yet: add one it covers with `moor domains:add`.")


@cli.command("certs")
@app_option
@json_option
def certs_list(app: str, as_json: bool) -> None:
    """The app's custom certificates and the domains they are served for."""
    c = client()
    rows = c.request("GET", f"/apps/{app}/sni-endpoints")
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(f"{app} has no custom certificate; its hosts use the platform's.")
        return
    used: dict[str, list[str]] = {}
    for d in c.request("GET", f"/apps/{app}/domains"):
        if d.get("sni_endpoint"):
            used.setdefault(d["sni_endpoint"]["name"], []).append(d["hostname"])
    table(
        ["name", "common name(s)", "expires", "trusted", "domains"],
        [
            (
                r["name"],
                _hosts(r),
                r["ssl_cert"]["expires_at"],
                "yes" if r["ssl_cert"]["ca_signed?"] else "no",
                ", ".join(used.get(r["name"], [])),
            )
            for r in rows
        ],
    )


def _send(
    method: str, path: str, certificate: Path, key: Path, app: str, as_json: bool, verb: str
) -> None:
    body = {
        "certificate_chain": _read(certificate, "certificate"),
        "private_key": _read(key, "key"),
    }
    cert = client().request(method, path, body)
    if as_json:
        print_json(cert)
        return
    _report(app, cert, verb)


_CRT = click.argument("certificate", type=click.Path(dir_okay=False, path_type=Path))
_KEY = click.argument("key", type=click.Path(dir_okay=False, path_type=Path))


@cli.command("certs:add")
@_CRT
@_KEY
@app_option
@json_option
def certs_add(certificate: Path, key: Path, app: str, as_json: bool) -> None:
    """Serve CERTIFICATE (PEM chain) with KEY for the app's domains it covers."""
    _send("POST", f"/apps/{app}/sni-endpoints", certificate, key, app, as_json, "Added")


@cli.command("certs:update")
@_CRT
@_KEY
@app_option
@click.option("--name", default=None, help="The certificate to replace (when there are several).")
@json_option
def certs_update(certificate: Path, key: Path, app: str, name: str | None, as_json: bool) -> None:
    """Replace a certificate and key (a renewal); served at once, no connection dropped."""
    path = f"/apps/{app}/sni-endpoints/{_pick(app, name)}"
    _send("PATCH", path, certificate, key, app, as_json, "Updated")


@cli.command("certs:info")
@app_option
@click.option("--name", default=None, help="The certificate (when there are several).")
@json_option
def certs_info(app: str, name: str | None, as_json: bool) -> None:
    """A certificate's subject, issuer, dates and host names."""
    cert = client().request("GET", f"/apps/{app}/sni-endpoints/{_pick(app, name)}")
    if as_json:
        print_json(cert)
        return
    facts = cert["ssl_cert"]
    table(
        ["", ""],
        [
            ("name", cert["name"]),
            ("host names", _hosts(cert)),
            ("subject", facts["subject"]),
            ("issuer", facts["issuer"]),
            ("starts", facts["starts_at"]),
            ("expires", facts["expires_at"]),
            ("trusted", "yes" if facts["ca_signed?"] else "no"),
        ],
    )


@cli.command("certs:remove")
@app_option
@click.option("--name", default=None, help="The certificate (when there are several).")
@click.option("--confirm", default=None, help="The app name again, to confirm.")
def certs_remove(app: str, name: str | None, confirm: str | None) -> None:
    """Stop serving a certificate; its domains get the platform's certificate again."""
    if confirm != app:
        raise InvalidParams(
            f"Browsers will warn on {app}'s custom domains without it. "
            f"Confirm with --confirm {app}."
        )
    chosen = _pick(app, name)
    client().request("DELETE", f"/apps/{app}/sni-endpoints/{chosen}")
    out.print(f"Removed certificate {chosen} from {app}.")
