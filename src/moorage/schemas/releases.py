"""Releases (``/apps/{app}/releases``), formation (``/apps/{app}/formation``) and dynos
(``/apps/{app}/dynos``): what runs, from which release."""

from __future__ import annotations

from moorage.schemas.base import Ref, Resource, Timestamp
from moorage.spec.status import DynoState, ReleaseStatus


class UserRef(Resource):
    id: str
    email: str


class Artifact(Resource):
    type: str
    id: str


class ReleaseExtension(Resource):
    """Where each process type's image came from (``container:release --image``)."""

    image_sources: dict[str, str] = {}


class Release(Resource):
    """Heroku's ``release``: ``images`` maps process types to image references."""

    id: str
    app: Ref
    version: int
    description: str
    status: ReleaseStatus
    status_reason: str | None = None
    current: bool
    eligible_for_rollback: bool
    created_at: Timestamp
    updated_at: Timestamp
    user: UserRef
    slug: Ref | None = None
    artifacts: list[Artifact] = []
    images: dict[str, str] = {}
    moorage: ReleaseExtension = ReleaseExtension()
    release_command: str | None = None
    addon_plan_names: list[str] = []
    output_stream_url: str | None = None


class ServicePort(Resource):
    """A port the process type is called on inside its group, and the port it listens on."""

    port: int
    target_port: int


class Formation(Resource):
    """Heroku's ``formation`` of one process type, with Moorage's port and check fields."""

    id: str
    app: Ref
    type: str
    quantity: int
    size: str
    dyno_size: Ref
    command: str
    port: int | None = None
    check_path: str | None = None
    boot_timeout: int | None = None
    replaces_entrypoint: bool = False
    ports: list[ServicePort] = []
    created_at: Timestamp
    updated_at: Timestamp


class ReleaseVersion(Resource):
    version: int


class Dyno(Resource):
    """Heroku's ``dyno``: ``name`` is ``web.1``; on a swarm, ``node`` (an extra key, absent
    on one host) names the node it runs on."""

    id: str
    name: str
    type: str
    state: DynoState | str
    app: Ref
    release: ReleaseVersion
    size: str
    command: str
    created_at: Timestamp
    updated_at: Timestamp
    attach_url: str | None = None
    exit_code: int | None = None
    oom_killed: bool = False
    restart_count: int = 0
