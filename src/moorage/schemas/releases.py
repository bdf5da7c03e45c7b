"""Releases (``/apps/{app}/releases``), formation (``/apps/{app}/formation``) and dynos
(``/apps/{app}/dynos``): what runs, from which release."""

from __future__ import annotations

from pydantic import StrictBool, StrictFloat, StrictInt, StrictStr

from moorage.schemas.base import Body, Ref, Resource, Timestamp
from moorage.spec.status import DynoState, ReleaseStatus

Count = StrictInt | StrictStr
"""A whole number as JSON sends it, or as the Heroku CLI does (``"2"``); its range and
digits are checked by the service, which says what is allowed."""


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


# -- request bodies -------------------------------------------------------------------------
class ReleaseRollback(Body):
    """``POST /apps/{app}/releases``: a new release from an earlier one (id or version)."""

    hint = 'Send {"release": "<release id or version>"} to roll back.'
    release: StrictStr | StrictInt


class ServicePortUpdate(Body):
    """One of ``ports``: the port callers in the group use and the one the process listens
    on (the same when left out)."""

    port: Count | None = None
    target_port: Count | None = None


class FormationChange(Body):
    """What a formation update may change; the service checks sizes, ranges, commands and
    paths (services/formation.py ``parse_update``), each with its own message."""

    quantity: Count | None = None
    size: StrictStr | None = None
    port: Count | None = None
    docker_image: StrictStr | None = None
    command: StrictStr | None = None
    check_path: StrictStr | None = None  # "" clears it
    boot_timeout: Count | None = None
    replaces_entrypoint: StrictBool | None = None
    ports: list[ServicePortUpdate] | None = None  # [] clears them


class FormationUpdate(FormationChange):
    """One process type's update in ``PATCH /apps/{app}/formation``."""

    type: StrictStr


class FormationBatch(Body):
    """``PATCH /apps/{app}/formation``: all updates apply, or none."""

    hint = 'Send {"updates": [{"type": "web", "quantity": 1}, ...]}.'
    updates: list[FormationUpdate]


class FormationPatch(FormationChange):
    """``PATCH /apps/{app}/formation/{type}``: the path names the process type."""

    hint = 'Send {"quantity": N} and/or {"size": ...}, {"port": ...}.'


class DynoCreate(Body):
    """``POST /apps/{app}/dynos``: a one-off dyno. The Heroku CLI sends ``COLUMNS`` and
    ``LINES`` as numbers and ``TERM`` as null without a terminal."""

    hint = 'Send {"command": "...", "attach": true|false}.'
    command: StrictStr
    attach: StrictBool | None = None
    env: dict[str, StrictStr | StrictInt | StrictFloat | StrictBool | None] | None = None
    size: StrictStr | None = None
    force_no_tty: StrictBool | None = None  # `heroku run --no-tty`
