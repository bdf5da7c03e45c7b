"""Store rows -> Heroku Platform API v3 shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from moorage.server.store.models import (
    App,
    Formation,
    Release,
)
from moorage.spec.dyno import Dyno


def ts(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


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
