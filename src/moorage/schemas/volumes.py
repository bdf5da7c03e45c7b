"""Persistent volumes (``/apps/{app}/volumes``): Moorage extension endpoints in the Heroku
style."""

from __future__ import annotations

from moorage.schemas.base import Body, Ref, Resource, Timestamp


class Volume(Resource):
    """A volume, mounted at ``path`` in ``process_type``'s dyno or not mounted (both None);
    ``used_bytes`` is None where the runtime cannot tell."""

    id: str
    name: str
    app: Ref
    size_mb: int
    used_bytes: int | None = None
    process_type: str | None = None
    path: str | None = None
    created_at: Timestamp


class Imported(Resource):
    """``volumes:import``: the bytes of the archive unpacked into the volume."""

    imported: int


class VolumeCreate(Body):
    """``volumes:create``; mounted at once when both ``process_type`` and ``path`` are given."""

    hint = 'Send {"name": "pgdata", "size": "1GB"}.'
    name: str
    size: str | None = None
    process_type: str | None = None
    path: str | None = None


class VolumeUpdate(Body):
    """Mount with both ``process_type`` and ``path``; unmount with neither."""

    hint = 'Mount with {"process_type": "db", "path": "/data"}; unmount with {}.'
    process_type: str | None = None
    path: str | None = None
