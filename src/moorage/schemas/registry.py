"""The platform registry's token endpoint (``/registry/token``, Docker token auth) and why an
app's push failed (``/apps/{app}/moorage/push-failures``)."""

from __future__ import annotations

from moorage.schemas.base import Resource


class RegistryToken(Resource):
    """Docker's token answer: ``token`` and ``access_token`` are the same JWT."""

    token: str
    access_token: str
    expires_in: int
    issued_at: str


class PushFailure(Resource):
    """A push that failed ``age`` seconds ago because the registry's disk filled up."""

    process_type: str
    age: float
    message: str
