"""The account (``/account``) and the platform it is on (``/moorage/info``, its CA)."""

from __future__ import annotations

from moorage.client.api import Client
from moorage.schemas.apps import Account, PlatformInfo


def account(c: Client) -> Account:
    return Account.model_validate(c.request("GET", "/account"))


def info(c: Client) -> PlatformInfo:
    """Where the registry and the router are; the HTTPS names when the edge serves HTTPS."""
    return PlatformInfo.model_validate(c.request("GET", "/moorage/info"))


def ca_certificate(c: Client) -> str:
    """The platform CA's certificate (PEM)."""
    return c.request_text("GET", "/moorage/ca.crt")
