"""Store rows -> Heroku Platform API v3 shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from moorage.server.store.models import (
    Addon,
    AddonAttachment,
    App,
    Backup,
    Collaborator,
    Domain,
    SniEndpoint,
    User,
)
from moorage.settings import Settings

FREE = {"cents": 0, "unit": "month"}  # self-hosted: no per-add-on price


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


def addon(ad: Addon) -> dict[str, Any]:
    return {
        "id": ad.id,
        "name": ad.name,
        "app": app_ref(ad.app),
        "addon_service": {"id": ad.service, "name": ad.service},
        "plan": {"id": ad.plan, "name": ad.plan, "price": FREE},
        "config_vars": sorted(a.config_var for a in ad.attachments if a.app_id == ad.app_id),
        "state": "provisioned",
        "created_at": ts(ad.created_at),
        "updated_at": ts(ad.updated_at),
        "provider_id": ad.resource,
        "web_url": None,
        "billed_price": {**FREE, "contract": False},
        "actions": [],
        "moorage": {
            "attachments": [
                {"app": a.app.name, "name": a.name, "config_var": a.config_var}
                for a in ad.attachments
            ],
            "credentials_retiring": len(ad.retiring),
            "backup_schedule": ad.backup_schedule or None,
        },
    }


def attachment(att: AddonAttachment) -> dict[str, Any]:
    ad = att.addon
    return {
        "id": att.id,
        "name": att.name,
        "addon": {"id": ad.id, "name": ad.name, "app": app_ref(ad.app)},
        "app": app_ref(att.app),
        "created_at": ts(att.created_at),
        "updated_at": ts(att.updated_at),
        "web_url": None,
        "log_input_url": None,
        "namespace": None,
    }


def backup(b: Backup) -> dict[str, Any]:
    return {
        "id": b.label,
        "num": b.num,
        "addon": {"id": b.addon.id, "name": b.addon.name},
        "trigger": b.trigger,
        "status": b.status,
        "verified": b.verified,
        "detail": b.detail,
        "size": b.size,
        "seconds": round(b.seconds, 2),
        "tables": b.tables,
        "started_at": ts(b.started_at),
        "finished_at": ts(b.finished_at),
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
