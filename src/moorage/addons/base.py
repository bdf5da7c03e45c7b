"""The add-on provider contract.

A provider owns the resources behind one add-on service. Every method is idempotent:
``provision`` of a resource that exists returns its credentials again, ``deprovision`` of a
missing one does nothing. Providers raise :class:`moorage.errors.RuntimeFailure` when the
backing server cannot be reached and :class:`moorage.errors.InvalidParams` for a bad plan.
"""

from __future__ import annotations

from typing import Protocol


class Provider(Protocol):
    service: str
    """The service name users type (``postgresql``)."""
    config_var: str
    """The config var the credentials go in (``DATABASE_URL``)."""

    def provision(self, resource: str) -> dict[str, str]:
        """Create ``resource`` (a safe identifier) and return the config vars it sets."""
        ...

    def deprovision(self, resource: str) -> None:
        """Drop ``resource`` and everything in it."""
        ...
