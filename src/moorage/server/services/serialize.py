"""Store rows -> Heroku Platform API v3 shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from moorage.server.store.models import (
    App,
    Collaborator,
    Domain,
    Formation,
    Release,
    SniEndpoint,
    User,
)
from moorage.settings import Settings
from moorage.spec.dyno import Dyno


def ts(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def account(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.email.split("@")[0],
        "created_at": ts(user.created_at),
        "updated_at": ts(user.created_at),
        "allow_tracking": False,
        "beta": False,
        "verified": True,
        "two_factor_authentication": False,
        "default_organization": None,
        "default_team": None,
    }


def app(a: App, settings: Settings) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "owner": {"id": a.owner.id, "email": a.owner.email},
        "created_at": ts(a.created_at),
        "updated_at": ts(a.updated_at),
        "released_at": ts(a.released_at),
        "web_url": None if a.internal_routing else settings.web_url(a.name),
        "git_url": None,
        "maintenance": False,
        "acm": False,
        "archived_at": None,
        "buildpack_provided_description": None,
        "build_stack": {"id": "moorage-bookworm", "name": "container"},
        "stack": {"id": "moorage-bookworm", "name": "container"},
        "region": {"id": "local", "name": "local"},
        "space": None,
        "organization": None,
        "team": None,
        "internal_routing": a.internal_routing,
        "repo_size": None,
        "slug_size": None,
        "generation": {"id": "moorage", "name": "moorage"},
        "moorage": {
            "group": a.group,
            "aliases": list(a.aliases or []),
            "internal_host": f"{a.name}.internal" if a.group else None,
            "origin": a.origin,
        },
    }


def collaborator(a: App, user: User, row: Collaborator | None) -> dict[str, Any]:
    """The owner (``row`` None) or a collaborator, as ``/apps/{app}/collaborators`` lists."""
    stamp = row.created_at if row else a.created_at
    return {
        "id": row.id if row else a.owner.id,
        "app": app_ref(a),
        "user": {"id": user.id, "email": user.email, "federated": False},
        "role": "collaborator" if row else "owner",
        "created_at": ts(stamp),
        "updated_at": ts(row.updated_at if row else a.updated_at),
    }


def app_ref(a: App) -> dict[str, str]:
    return {"id": a.id, "name": a.name}


def formation(f: Formation) -> dict[str, Any]:
    return {
        "id": f.id,
        "app": app_ref(f.app),
        "type": f.type,
        "quantity": f.quantity,
        "size": f.size,
        "dyno_size": {"id": f.size, "name": f.size},
        "command": f.command or "",
        "port": f.port,
        "check_path": f.check_path,
        "boot_timeout": f.boot_timeout,
        "replaces_entrypoint": f.replaces_entrypoint,
        "ports": [{"port": p, "target_port": t} for p, t in (f.ports or [])],
        "created_at": ts(f.created_at),
        "updated_at": ts(f.updated_at),
    }


def release(r: Release, current_version: int | None) -> dict[str, Any]:
    return {
        "id": r.id,
        "app": app_ref(r.app),
        "version": r.version,
        "description": r.description,
        "status": r.status,
        "status_reason": r.status_reason or None,
        "current": r.version == current_version,
        # a release without images cannot run anything, so it is no rollback target
        "eligible_for_rollback": r.status == "succeeded" and bool(r.images),
        "created_at": ts(r.created_at),
        "updated_at": ts(r.updated_at),
        "user": {"id": r.user.id, "email": r.user.email},
        "slug": None,
        "artifacts": [{"type": "oci-image", "id": ref} for ref in sorted(r.images.values())],
        "images": dict(r.images),
        "moorage": {"image_sources": dict(r.image_sources or {})},
        "release_command": r.release_command or None,
        "addon_plan_names": sorted({a.plan for a in r.app.addons}),
        "output_stream_url": None,
    }


def dyno(d: Dyno, a: App) -> dict[str, Any]:
    """A dyno; ``name`` is ``web.1`` as Heroku shows it, ``state`` up/starting/crashed/down."""
    formation = {f.type: f for f in a.formations}.get(d.type)
    command = (formation.command if formation else None) or d.command
    return {
        "id": d.id,
        "name": f"{d.type}.{d.number}",
        "type": d.type,
        "state": d.state,
        "app": app_ref(a),
        "release": {"version": d.release},
        "size": formation.size if formation else "basic",
        "command": command,
        "created_at": d.created_at,
        "updated_at": (
            d.started_at[:19] + "Z"
            if d.started_at[:4].isdigit() and not d.started_at.startswith("0001")  # never started
            else d.created_at
        ),
        "attach_url": None,
        "exit_code": d.exit_code,
        "oom_killed": d.oom_killed,
        "restart_count": d.restart_count,
        **({"node": d.node} if d.node else {}),  # the Swarm node it runs on
    }


def domain(d: Domain, settings: Settings, standing: str, proof: tuple[str, str]) -> dict[str, Any]:
    """``standing``: succeeded (routed), pending (waits for its DNS proof), failed (another
    owner proved the name above it); ``proof``: the TXT record that proves it, and its value."""
    return {
        "id": d.id,
        "hostname": d.hostname,
        "kind": "custom",
        "app": app_ref(d.app),
        "cname": settings.app_host(d.app.name),
        "status": standing,
        "moorage": {
            "verification": {
                "record": proof[0],
                "type": "TXT",
                "value": proof[1],
                "verified": d.verified_at is not None,
                "verified_at": ts(d.verified_at),
            }
        },
        "acm_status": None,
        "acm_status_reason": None,
        "sni_endpoint": (
            {"id": d.sni_endpoint.id, "name": d.sni_endpoint.name} if d.sni_endpoint else None
        ),
        "created_at": ts(d.created_at),
        "updated_at": ts(d.updated_at),
    }


def sni_endpoint(e: SniEndpoint) -> dict[str, Any]:
    """A custom certificate; the private key is never sent back."""
    return {
        "id": e.id,
        "name": e.name,
        "display_name": None,
        "app": app_ref(e.app),
        "certificate_chain": e.certificate_chain,
        "domains": [d.id for d in e.domains],
        "ssl_cert": {
            "id": e.id,
            "ca_signed?": e.ca_signed,
            "self_signed?": e.self_signed,
            "cert_domains": list(e.cert_domains),
            "subject": e.subject,
            "issuer": e.issuer,
            "starts_at": ts(e.starts_at),
            "expires_at": ts(e.expires_at),
        },
        "created_at": ts(e.created_at),
        "updated_at": ts(e.updated_at),
    }


def default_domain(a: App, settings: Settings) -> dict[str, Any]:
    return {
        "id": f"{a.id}-default",
        "hostname": settings.app_host(a.name),
        "kind": "heroku",
        "app": app_ref(a),
        "cname": None,
        "status": "succeeded",
        "acm_status": None,
        "acm_status_reason": None,
        "sni_endpoint": None,
        "created_at": ts(a.created_at),
        "updated_at": ts(a.updated_at),
    }
