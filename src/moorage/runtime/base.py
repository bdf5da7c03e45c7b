"""The runtime contract: what the reconciler may ask of a scheduler backend.

Only the reconciler and the sessions component (``moorage.server.sessions``: one-offs, exec,
attach; the log pump reads dyno output through it) call the runtime. Every method
is idempotent where the docstring says so and raises :class:`moorage.errors.RuntimeFailure`
(never a third-party error) when the engine fails.

Crash recovery belongs to the engine: a formation dyno that exits is restarted in place with
exponential backoff, without the control plane. The reconciler observes it (``crashed`` with
the exit code while it waits to restart) and takes it out of the router until it is ready.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from moorage.spec.dyno import Dyno, DynoEvent, DynoSpec, DynoStats, OneOffSpec

if TYPE_CHECKING:
    from moorage.runtime.session import TtySession


@dataclass(frozen=True)
class Observed:
    """What a reconcile pass reads from the engine, taken together."""

    dynos: list[Dyno]  # as list_dynos()
    retiring: list[Dyno]  # dynos being replaced (renamed by retire()), including those a
    # killed control plane was replacing; not in dynos
    apps: set[str]  # apps that own any resource in the runtime (dynos, networks, volumes)
    leaving: frozenset[str] = frozenset()  # nodes `moor nodes:drain` asked to empty: their
    # dynos leave the router first, then hand_over_node() lets the engine move them


class Runtime(Protocol):
    def hand_over_node(self, hostname: str) -> None:
        """Let the engine move the dynos of a leaving node (they are out of the router)."""

    def observe(self) -> Observed:
        """The dynos, the retiring dynos and the apps at once (one container listing where
        the engine allows: with a thousand dynos each listing costs tens of milliseconds)."""
        ...

    def list_dynos(self) -> list[Dyno]:
        """Every dyno of this platform instance (one-offs flagged), retiring ones excluded."""
        ...

    def start(self, spec: DynoSpec) -> Dyno:
        """Create and start ``spec.name`` on the app's network, restarted by the engine on exit.

        Raises ``Conflict`` if a dyno of that name exists (retire it first). The image must
        be present or pullable from the platform registry.
        """
        ...

    def start_oneoff(self, spec: OneOffSpec) -> Dyno:
        """Create a one-off dyno, never restarted; started now unless ``spec.attach``
        (then :meth:`open_attach` starts it once the caller listens)."""
        ...

    def wait_exit(self, dyno_id: str, timeout: float | None = None) -> int:
        """Block until the dyno exits; its exit status (255 when it is gone)."""
        ...

    def open_exec(
        self, dyno: Dyno, cmd: list[str], *, tty: bool, rows: int | None, cols: int | None
    ) -> TtySession:
        """Run ``cmd`` inside a running dyno as its user; raises NotFound if it is not up."""
        ...

    def open_attach(
        self, dyno: Dyno, *, tty: bool, rows: int | None, cols: int | None
    ) -> TtySession:
        """Attach to a created one-off dyno, then start it (no output is lost)."""
        ...

    def probe(self, dyno: Dyno, path: str | None) -> bool:
        """One readiness check, at most a few seconds: TCP bind, or GET ``path`` < 400."""
        ...

    def wait_ready(self, dyno: Dyno, timeout: float, path: str | None = None) -> str | None:
        """Probe until ready; None when ready, else the reason (exit, or boot timeout)."""
        ...

    def read_file(self, dyno: Dyno, path: str, limit: int) -> bytes:
        """One file of a running dyno (``ps:copy``); NotFound or InvalidParams say why not."""
        ...

    def listening(self, dyno: Dyno) -> list[int] | None:
        """TCP ports the dyno listens on for other hosts (not loopback only); None when the
        runtime cannot tell."""
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

    def remove_app(self, app: str) -> None:
        """Remove every container, the network and the images of ``app``. Idempotent."""
        ...

    def host_gateway_ip(self) -> str:
        """The host address dynos reach platform services (PostgreSQL) on."""
        ...

    def watch(self, on_event: Callable[[DynoEvent], None], stop: threading.Event) -> None:
        """Report dyno starts and exits as they happen until ``stop`` is set."""
        ...

    def stats(self, dyno: Dyno) -> DynoStats | None:
        """Memory and CPU use of a running dyno now; None when it is not running."""
        ...

    def prefetch(self, reference: str, auth: dict[str, str] | None) -> bool:
        """Pull a prebuilt image from where it comes from into the engines that will run it,
        while the platform copies it into its registry (the rollout then finds every layer
        present); False when this runtime cannot or the pull failed (nothing is lost)."""
        ...

    def forget_prefetched(self, reference: str) -> None:
        """Drop the reference :meth:`prefetch` made (the layers stay while an image uses them)."""
        ...

    def volumes(self) -> set[tuple[str, str]]:
        """(app, volume name) of every persistent volume this runtime holds."""
        ...

    def remove_volume(self, app: str, name: str) -> bool:
        """Remove a volume's files; False while a dyno still uses it. Idempotent."""
        ...

    def volume_usage(self) -> dict[tuple[str, str], int]:
        """Bytes each volume holds, by (app, volume name)."""
        ...

    def export_volume(self, app: str, name: str, image: str) -> Iterator[bytes]:
        """The volume's files as a tar stream; ``image`` (the app's) lends a helper container
        that is never started. NotFound when no dyno ever created the volume."""
        ...

    def import_volume(self, app: str, name: str, image: str, tar: bytes) -> None:
        """Unpack a tar stream into the volume (created if new), owned by the dyno's user."""
        ...

    def log_stream(self, dyno_id: str, since: float) -> AsyncIterator[tuple[str, bytes]]:
        """(RFC 3339 nano timestamp, raw line) of a dyno's output after ``since``, following,
        read on the caller's event loop (the log pump follows every dyno on one): it must
        not block it."""
        ...
