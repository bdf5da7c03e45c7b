"""Custom certificates: SNI endpoints (``/apps/{app}/sni-endpoints``)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from moorage.schemas.base import Body, Ref, Resource, Timestamp


class SslCert(Resource):
    """What the certificate says; Heroku names two keys with a question mark."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)
    id: str
    ca_signed: bool = Field(validation_alias="ca_signed?", serialization_alias="ca_signed?")
    self_signed: bool = Field(validation_alias="self_signed?", serialization_alias="self_signed?")
    cert_domains: list[str]
    subject: str
    issuer: str
    starts_at: Timestamp
    expires_at: Timestamp


class SniEndpoint(Resource):
    """Heroku's ``sni-endpoint``: a certificate chain; the private key is never sent back.
    ``domains`` are the ids of the app's domains it is served for."""

    id: str
    name: str
    display_name: str | None = None
    app: Ref
    certificate_chain: str
    domains: list[str]
    ssl_cert: SslCert
    created_at: Timestamp
    updated_at: Timestamp


class SniEndpointCreate(Body):
    """A certificate chain and its key, both PEM (a new certificate, or a renewal)."""

    hint = (
        'Send {"certificate_chain": "<PEM>", "private_key": "<PEM>"}: '
        "`moor certs:add server.crt server.key`."
    )
    certificate_chain: str
    private_key: str
