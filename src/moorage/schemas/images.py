"""Releases from prebuilt images (``/apps/{app}/image-releases``, ``container:release
--image``) and the registry credentials an app pulls them with (``/apps/{app}/registry-logins``):
Moorage extensions in the Heroku style."""

from __future__ import annotations

from pydantic import StrictStr

from moorage.schemas.base import Body, Ref, Resource, Timestamp
from moorage.schemas.releases import FormationUpdate, ReleaseVersion
from moorage.spec.status import ProofStatus


class ImageUpdate(FormationUpdate):
    """A formation update that may name ``image``, a reference the platform copies into its
    registry (``redis:7``, ``ghcr.io/org/app:1.2``), instead of a pushed ``docker_image``."""

    image: StrictStr | None = None


class ImageReleaseCreate(Body):
    hint = 'Send {"updates": [{"type": "web", "image": "ghcr.io/org/app:1.2"}, ...]}.'
    updates: list[ImageUpdate]


class ImageSource(Resource):
    type: str
    image: str


class ImageRelease(Resource):
    """A copy-and-release job: ``pending`` while it copies, then ``succeeded`` (``release``
    names the version it made, None when nothing changed) or ``failed`` (``message``)."""

    id: str
    app: Ref
    status: ProofStatus
    message: str | None = None
    images: list[ImageSource] = []
    release: ReleaseVersion | None = None
    output: list[str] = []
    created_at: Timestamp
    updated_at: Timestamp


class RegistryLoginSet(Body):
    hint = 'Send {"username": "...", "password": "..."}.'
    username: StrictStr
    password: StrictStr


class RegistryLogin(Resource):
    """Credentials the platform pulls the app's images with: host and user only, never the
    password. ``updated_at`` is ISO 8601 with microseconds, as it always was."""

    host: str
    username: str
    updated_at: str


class RegistryHost(Resource):
    """The host whose credentials were removed."""

    host: str
