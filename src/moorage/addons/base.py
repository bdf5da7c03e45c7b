"""The add-on provider contract.

A provider owns the resources behind one add-on service (``postgresql``, ``redis``). The
platform names each resource (a safe identifier, ``[a-z][a-z0-9_]{2,40}``) and keeps the
records (plan, owning app, attachments, the current URL) in its store; the provider keeps
only what its backing server needs. Every method is idempotent:

* ``provision`` of a resource that exists returns working credentials for it again (it may
  set a new password); ``deprovision`` of a missing one does nothing;
* ``rotate`` then ``retire`` is how credentials change without a failed request: ``rotate``
  issues new credentials while the old ones keep working, the platform releases the apps
  with the new URL, and once no dyno uses the old URL it calls ``retire``, which refuses
  every credential but the one it is told to keep and closes the sessions that used them.

Errors: :class:`moorage.errors.InvalidParams` for a bad resource name or URL,
:class:`moorage.errors.ComponentFailed` when the backing server cannot be reached or refuses
the change. Messages never contain a password.
"""

from __future__ import annotations

from typing import Protocol


class Provider(Protocol):
    service: str
    """The service name users type (``postgresql``, ``redis``)."""
    attachment: str
    """The default attachment name; the config var is ``<attachment>_URL`` (``DATABASE``)."""

    def plan_name(self, plan: str) -> str:
        """The canonical ``service:plan`` for what a user typed (``heroku-postgresql``,
        ``postgresql:standard-0``); :class:`moorage.errors.InvalidParams` for an unknown plan."""
        ...

    def provision(self, resource: str, plan: str) -> str:
        """Create ``resource`` on ``plan`` (canonical) and return the URL that reaches it
        with its credentials."""
        ...

    def deprovision(self, resource: str) -> None:
        """Drop ``resource`` and everything in it (its data, its credentials, its server)."""
        ...

    def rotate(self, resource: str, current_url: str) -> str:
        """New credentials for ``resource``; ``current_url`` keeps working until ``retire``."""
        ...

    def retire(self, resource: str, keep_url: str) -> None:
        """Refuse every credential of ``resource`` except ``keep_url``'s; end their sessions."""
        ...

    def info(self, resource: str) -> dict[str, str]:
        """Facts for ``addons:info`` / ``pg:info``: version, size, connections, ..."""
        ...

    def ensure_running(self, resources: list[str]) -> None:
        """Start the servers behind ``resources`` that are not running (after a reboot or a
        crash); adopt the ones that are. Called at start-up and by the supervisor."""
        ...
