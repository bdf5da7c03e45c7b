"""Custom domains (``/apps/{app}/domains``) and their DNS proof."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from moorage.schemas.base import Body, Ref, Resource, Timestamp
from moorage.spec.status import ProofStatus


class Verification(Resource):
    """The DNS TXT record that proves the owner's claim on the name (``domains:verify``)."""

    record: str
    type: str = "TXT"
    value: str
    verified: bool
    verified_at: Timestamp = None


class DomainExtension(Resource):
    verification: Verification


class Domain(Resource):
    """Heroku's ``domain``. ``status``: succeeded (routed), pending (waits for its DNS
    proof), failed (another owner proved a name above it). The platform's own name of the
    app (``kind`` heroku) has no ``moorage`` key: it needs no proof."""

    id: str
    hostname: str
    kind: Literal["custom", "heroku"]
    app: Ref
    cname: str | None
    status: ProofStatus
    moorage: DomainExtension | None = Field(default=None, exclude_if=lambda v: v is None)
    acm_status: str | None = None
    acm_status_reason: str | None = None
    sni_endpoint: Ref | None = None
    created_at: Timestamp
    updated_at: Timestamp


class DomainCreate(Body):
    """A host name, and the certificate (name or id) to serve for it; without one, the
    app's newest certificate that covers it."""

    hint = 'Send {"hostname": "www.example.com"}.'
    hostname: str
    sni_endpoint: str | None = None


class DomainUpdate(Body):
    """Choose the certificate the router presents for the domain (null: the platform's)."""

    hint = 'Send {"sni_endpoint": "<certificate name>"} or null.'
    sni_endpoint: str | None
