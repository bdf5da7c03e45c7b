"""The runtime contract: what the reconciler may ask of a scheduler backend.

Only the reconciler calls a runtime. Every method is idempotent where the docstring says so
and raises :class:`moorage.errors.RuntimeFailure` (never a third-party error) when the
engine fails.
"""

from __future__ import annotations

from typing import Protocol

from moorage.spec.dyno import Dyno, DynoSpec


class Runtime(Protocol):
    def list_dynos(self) -> list[Dyno]:
        """Every dyno of this platform instance, running or not, retiring ones excluded."""
        ...

    def start(self, spec: DynoSpec) -> Dyno:
        """Create and start ``spec.name`` on the app's network.

        Raises ``Conflict`` if a dyno of that name exists (retire it first). The image must
        be present or pullable from the platform registry.
        """
        ...

    def wait_ready(self, dyno: Dyno, timeout: float) -> str | None:
        """Wait until the dyno accepts TCP on its port; None when ready, else the reason."""
        ...

    def retire(self, dyno: Dyno) -> Dyno:
        """Move ``dyno`` aside (it keeps running, its name is freed); returns the new handle."""
        ...

    def unretire(self, dyno: Dyno) -> None:
        """Give a retired dyno its name back (after a failed replacement)."""
        ...

    def stop(self, dyno_id: str, grace: float) -> None:
        """SIGTERM, wait ``grace`` seconds, SIGKILL, remove. Idempotent."""
        ...

    def restart(self, dyno: Dyno) -> None:
        """Start a stopped or crashed dyno again in place."""
        ...

    def remove_app(self, app: str) -> None:
        """Remove every container, the network and the images of ``app``. Idempotent."""
        ...

    def apps(self) -> set[str]:
        """Apps that own any resource in the runtime (dynos or networks)."""
        ...

    def host_gateway_ip(self) -> str:
        """The host address dynos reach platform services (PostgreSQL) on."""
        ...
