"""The sessions component: the calls on running dynos that change nothing the reconciler
converges (built once in ``moor server``, beside the reconciler, over the same runtime and
router).

One-offs (``run.N``, ``scheduler.N``, ``pg:psql``) start here and end here once their
attached client leaves; the reconciler still reaps the ones nobody attached to or that
exited. Exec sessions and file reads open on a formation dyno; the log pump reads dyno output
and the metrics sampler reads stats through here too.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from moorage.errors import NotFound, RuntimeFailure
from moorage.router.base import Router
from moorage.runtime.base import Runtime
from moorage.settings import Settings
from moorage.spec.dyno import Dyno, DynoStats, OneOffSpec
from moorage.spec.status import DynoState

if TYPE_CHECKING:
    from moorage.runtime.session import TtySession

log = logging.getLogger("moorage.reconciler")  # the lines it logs were the reconciler's
Emit = Callable[[str, str, str], None]  # (app, process, message) -> the app's log stream


class DynoSessions:
    """``finish`` stops a one-off on purpose (the reconciler's, so its exit is no crash)."""

    def __init__(
        self,
        runtime: Runtime,
        router: Router,
        settings: Settings,
        emit: Emit,
        finish: Callable[[Dyno], None],
    ) -> None:
        self.runtime = runtime
        self.router = router
        self.settings = settings
        self.emit = emit
        self._finish = finish

    def find_dyno(self, app: str, name: str) -> Dyno:
        """``app``'s dyno ``name`` (``web.1``) as the runtime reports it; NotFound if none."""
        for d in self.runtime.list_dynos():
            if d.app == app and d.label == name:
                return d
        raise NotFound(f"No dyno {name} in {app}. See `moor ps -a {app}` for the running ones.")

    # -- one-offs -----------------------------------------------------------------------------
    def start_oneoff(self, spec: OneOffSpec) -> Dyno:
        """Start ``spec`` (created stopped when it waits for an attach)."""
        if self.settings.dyno_read_only:  # services build run.N/scheduler.N; the setting is ours
            spec = replace(spec, read_only=True)
        self.emit(
            spec.app, spec.label, f"Starting process with command `{shlex.join(spec.command)}`"
        )
        return self.runtime.start_oneoff(spec)

    def finish_oneoff(self, dyno: Dyno) -> None:
        """The attached client left: the one-off ends."""
        self._finish(dyno)

    # -- terminals and files ------------------------------------------------------------------
    def open_exec(
        self, dyno: Dyno, cmd: list[str], *, tty: bool, rows: int | None, cols: int | None
    ) -> TtySession:
        return self.runtime.open_exec(dyno, cmd, tty=tty, rows=rows, cols=cols)

    def open_attach(
        self, dyno: Dyno, *, tty: bool, rows: int | None, cols: int | None
    ) -> TtySession:
        return self.runtime.open_attach(dyno, tty=tty, rows=rows, cols=cols)

    def read_file(self, dyno: Dyno, path: str, limit: int) -> bytes:
        return self.runtime.read_file(dyno, path, limit)

    # -- output and samples -------------------------------------------------------------------
    def log_stream(self, dyno_id: str, since: float) -> AsyncIterator[tuple[str, bytes]]:
        """A dyno's output after ``since``, following (for the log pump)."""
        return self.runtime.log_stream(dyno_id, since=since)

    def router_stats(self) -> dict[str, dict[str, float]]:
        """The router's request counters per app (for metrics)."""
        return self.router.stats()

    def dyno_stats(self) -> list[DynoStats]:
        """Memory and CPU of every running formation dyno (for metrics)."""
        samples = []
        for d in self.runtime.list_dynos():
            if d.oneoff or d.state != DynoState.UP:
                continue
            try:
                sample = self.runtime.stats(d)
            except RuntimeFailure as exc:
                log.warning("no stats for %s: %s", d.name, exc)
                continue
            if sample is not None:
                samples.append(sample)
        return samples
