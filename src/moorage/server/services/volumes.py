"""Persistent volumes (Dokku's ``storage``, Render's disks): create, mount into one process
type at a path, unmount, destroy.

A process type with a volume runs at most one dyno: two processes writing one database's
files corrupt it, so scaling such a type above one is refused, and its rollouts stop the
old dyno before the new one starts (no zero-downtime deploy, as on Render's disks).
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from moorage.errors import Conflict, InvalidParams, NotFound
from moorage.schemas import volumes as schema
from moorage.schemas.base import Ref
from moorage.server.store.models import App, Formation, Volume

NAME = re.compile(r"[a-z][a-z0-9-]{0,29}")
SIZE = re.compile(r"(?i)\s*(\d+(?:\.\d+)?)\s*(m|mb|mi|mib|g|gb|gi|gib|t|tb|ti|tib)?\s*")
DEFAULT_SIZE_MB = 1024
MAX_SIZE_MB = 1024 * 1024
MAX_VOLUMES = 10  # per app
# where a volume would hide what a process needs to run (or what the platform gives it)
RESERVED = ("/", "/bin", "/etc", "/lib", "/sbin", "/usr", "/tmp")  # noqa: S108 (paths in a dyno)
KERNEL = ("/dev", "/proc", "/sys")  # nor anything under these
_UNITS = {"m": 1, "g": 1024, "t": 1024 * 1024}


def view(v: Volume, used: dict[tuple[str, str], int]) -> schema.Volume:
    """The volume as the API shows it; ``used`` holds bytes by (app, volume), as the
    runtime measured them."""
    return schema.Volume(
        id=v.id,
        name=v.name,
        app=Ref.of(v.app),
        size_mb=v.size_mb,
        used_bytes=used.get((v.app.name, v.name)),
        process_type=v.process_type,
        path=v.path,
        created_at=v.created_at,
    )


def parse_size(text: str) -> int:
    """Megabytes in ``1GB``, ``500MB``, ``2Gi`` (binary units either way; no unit: GB)."""
    m = SIZE.fullmatch(text)
    if m is None:
        raise InvalidParams(f"Size {text[:40]!r} is not a size: write it like 1GB or 500MB.")
    mb = float(m[1]) * _UNITS[(m[2] or "g")[0].lower()]
    if not 1 <= mb <= MAX_SIZE_MB:
        raise InvalidParams(
            f"Size {text[:40]!r} is out of range: from 1MB to {MAX_SIZE_MB // 1024**2}TB."
        )
    return int(mb)


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise InvalidParams(
            f"Volume name {name[:40]!r} is invalid: use 1 to 30 lowercase letters, digits and "
            "dashes, starting with a letter (e.g. pgdata)."
        )
    return name


def check_path(path: str) -> str:
    clean = "/" + "/".join(p for p in path.split("/") if p)
    if not path.startswith("/") or ".." in path.split("/") or len(path) > 200 or "\x00" in path:
        raise InvalidParams(
            f"Mount path {path[:60]!r} is invalid: give an absolute path like /data."
        )
    if clean in RESERVED or any(clean == k or clean.startswith(f"{k}/") for k in KERNEL):
        raise InvalidParams(
            f"Mount path {clean} would hide the image's system files; choose a path of the "
            "app's own, like /data or /var/lib/postgresql/data."
        )
    return clean


def find(app: App, name: str) -> Volume:
    for v in app.volumes:
        if v.name == name:
            return v
    raise NotFound(
        f"Volume {name!r} not found on {app.name}. `moor volumes -a {app.name}` lists them."
    )


def create(session: Session, app: App, name: str, size: str | None) -> Volume:
    check_name(name)
    if any(v.name == name for v in app.volumes):
        raise Conflict(f"{app.name} already has a volume named {name}.")
    if len(app.volumes) >= MAX_VOLUMES:
        raise InvalidParams(f"{app.name} has {MAX_VOLUMES} volumes, the limit; destroy one first.")
    v = Volume(app_id=app.id, name=name, size_mb=parse_size(size) if size else DEFAULT_SIZE_MB)
    app.volumes.append(v)
    session.flush()
    return v


def mount(session: Session, app: App, name: str, path: str, process_type: str) -> Volume:
    """Mount ``name`` at ``path`` in ``process_type``'s dyno (the type may be declared later
    by a release; it must not run more than one dyno)."""
    v = find(app, name)
    clean = check_path(path)
    if v.process_type is not None and (v.process_type, v.path) != (process_type, clean):
        raise Conflict(
            f"Volume {name} is mounted at {v.path} in {v.process_type}; a volume is mounted in "
            f"one place. Run `moor volumes:unmount {name} -a {app.name}` first."
        )
    for other in app.volumes:
        if other is not v and other.process_type == process_type and other.path == clean:
            raise Conflict(f"Volume {other.name} is already mounted at {clean} in {process_type}.")
    f = next((f for f in app.formations if f.type == process_type), None)
    if f is not None:
        refuse_scale(app, f, f.quantity, extra=v)
    v.process_type, v.path = process_type, clean
    session.flush()
    return v


def unmount(session: Session, app: App, name: str) -> Volume:
    v = find(app, name)
    v.process_type, v.path = None, None
    session.flush()
    return v


def destroy(session: Session, app: App, name: str) -> None:
    """Forget the volume; the reconciler removes its files once no dyno uses it."""
    v = find(app, name)
    app.volumes.remove(v)
    session.flush()


def mounted_in(app: App, process_type: str) -> list[Volume]:
    return [v for v in app.volumes if v.process_type == process_type]


def refuse_scale(app: App, f: Formation, quantity: int, extra: Volume | None = None) -> None:
    """Refuse more than one dyno of a process type that has a volume."""
    held = [*mounted_in(app, f.type), *([extra] if extra is not None else [])]
    if quantity > 1 and held:
        names = ", ".join(sorted({v.name for v in held}))
        raise InvalidParams(
            f"{f.type} has the volume {names} mounted, so it runs at most one dyno (two "
            f"processes writing the same files corrupt them). Scale {f.type} to 1, or run "
            f"`moor volumes:unmount {held[0].name} -a {app.name}` first."
        )
