"""Builds (``/apps/{app}/builds``): Heroku's build resource, made by ``git push``."""

from __future__ import annotations

from moorage.schemas.base import Ref, Resource, Timestamp
from moorage.spec.status import ProofStatus


class SourceBlob(Resource):
    """What was built: ``checksum`` (``SHA256:<hex>`` of the tar) and ``version`` (the
    commit)."""

    checksum: str | None = None
    version: str | None = None


class BuildRelease(Resource):
    id: str
    version: int


class Build(Resource):
    """``pending`` while it builds and releases, then ``succeeded`` or ``failed``
    (``message`` says why); ``release`` is what it released (None when nothing changed)."""

    id: str
    app: Ref
    status: ProofStatus
    message: str | None = None
    source_blob: SourceBlob
    release: BuildRelease | None = None
    output_stream_url: str | None = None
    user: Ref | None = None
    created_at: Timestamp
    updated_at: Timestamp
