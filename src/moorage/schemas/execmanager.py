"""``heroku ps:exec``'s API side: the app feature it checks, the buildpacks it looks for, and
the exec manager's sessions (``/api/v2``)."""

from __future__ import annotations

from pydantic import StrictStr

from moorage.schemas.base import Body, Resource


class AppFeature(Resource):
    """Heroku's ``app-feature`` (``runtime-heroku-exec``, always enabled here)."""

    id: str
    name: str
    enabled: bool
    state: str
    description: str
    display_name: str
    doc_url: str
    feedback_email: str


class AppFeatureUpdate(Body):
    """What the Heroku CLI sends to enable a feature; this one is always on, so the value
    is read loosely and changes nothing."""

    enabled: bool | None = None


class BuildpackRef(Resource):
    name: str
    url: str


class BuildpackInstallation(Resource):
    """Heroku's ``buildpack-installation``; container apps have none."""

    ordinal: int
    buildpack: BuildpackRef


class ExecDyno(Resource):
    """A dyno an SSH session can be opened in."""

    dyno_name: str


class ExecSessionCreate(Body):
    hint = 'Send {"client_key": "<an OpenSSH public key>"}.'
    client_key: StrictStr


class ExecSession(Resource):
    """Where the Heroku CLI connects (``tunnel_host``, as ``client_user``), the host key to
    expect, and the dyno's address behind the tunnel."""

    tunnel_host: str
    client_user: str
    proxy_public_key: str
    dyno_ip: str | None
    dyno_name: str
