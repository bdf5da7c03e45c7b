"""Runs ``git push`` builds in the background: unpack the pushed tree, read ``heroku.yml``
(else a ``Dockerfile`` for web), build each process type's image on the platform's Docker
Engine (the legacy builder: every RUN step in a container of its own, with memory and CPU
limits and no Docker socket; the engine's layer cache per app keeps unchanged layers),
push it to the platform's registry and release it as ``container:release`` does, then
wait for the release (and its release phase) to succeed or fail.

Nothing is released unless every image was built and pushed, so a failure leaves the
running release serving. Each build's output lines are kept in memory while it runs (and a
while after) for ``git push`` to stream; the app's log gets the platform lines.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from moorage.errors import BuildCancelled, BuildFailed, Conflict, InvalidParams, MoorageError
from moorage.registry.tokens import Access, TokenIssuer
from moorage.server.background.setup import Setup
from moorage.server.services import releases
from moorage.server.store.db import Store
from moorage.server.store.models import App, Build, Release, User
from moorage.spec.manifests import (
    AppManifest,
    formation_updates,
    parse_app_json,
    parse_heroku_yml,
    parse_procfile,
)
from moorage.spec.status import ProofStatus, ReleaseStatus

if TYPE_CHECKING:
    from moorage.server.platform import Platform

log = logging.getLogger("moorage.server")
MAX_LINES = 5000
KEEP_FINISHED = 600.0  # seconds a finished build's output stays readable
NO_SOURCE = (
    "Neither heroku.yml (with build.docker) nor a Dockerfile is at the root of the pushed "
    "tree: nothing to build, nothing released. Add a Dockerfile for web, or a heroku.yml "
    "such as `build: {docker: {web: Dockerfile}}`."
)

# (user, app name, formation updates) -> the release made, or None when nothing changed
Apply = Callable[[User, str, list[dict[str, Any]]], str | None]


@dataclass(frozen=True)
class BuildLimits:
    """What one build may use: memory of each RUN step's container, its CPU shares, and
    seconds for building its images (then it is stopped; pushes to the registry and the
    release do not count)."""

    memory: int = 2 << 30
    cpushares: int = 512
    timeout: float = 900.0
    release_timeout: float = 900.0


@dataclass
class _Output:
    lines: list[str] = field(default_factory=list)
    done: bool = False
    finished_at: float = 0.0


@dataclass
class _Job:
    """A build not yet finished: ``queued``, then ``building``, then ``releasing`` (no longer
    cancellable); ``stop`` is set, with ``reason``, when it is cancelled."""

    app: str
    state: str = "queued"
    stop: threading.Event = field(default_factory=threading.Event)
    reason: str = ""


class Builder:
    """Runs builds ``workers`` at a time; more wait in line, in the order they came. A new
    build of an app cancels the app's builds not yet releasing (the newer push wins)."""

    setup: Setup | None = None  # heroku.yml setup on the first deploy (background/setup.py)
    after: Callable[[User, str], list[str]] | None = None  # a review app's postdeploy

    def __init__(
        self,
        store: Store,
        registry_host: str,
        issuer: TokenIssuer,
        emit: Callable[[str, str, str], None],
        apply: Apply,
        limits: BuildLimits = BuildLimits(),
        workers: int = 1,
    ) -> None:
        self.store, self.registry_host, self.issuer = store, registry_host, issuer
        self.emit, self.apply, self.limits, self.workers = emit, apply, limits, workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="build")
        self._cond = threading.Condition()
        self._out: dict[str, _Output] = {}
        self._jobs: dict[str, _Job] = {}  # in the order they came

    def recover(self) -> None:
        """Builds a stopped server was running failed; say so (push again)."""
        with self.store.session() as s:
            for b in s.scalars(select(Build).where(Build.status == ProofStatus.PENDING)):
                b.status = ProofStatus.FAILED
                b.message = "The platform restarted during the build; push again."

    def submit(self, build_id: str, source: Path, app: str, version: str = "") -> None:
        """Build the tar at ``source`` (removed once read), once a worker is free; the app's
        earlier builds that are not releasing yet are cancelled."""
        newer = f"{version[:10]}, build {build_id}" if version else f"build {build_id}"
        reason = f"Build cancelled: a newer push of {app} ({newer}) superseded it."
        with self._cond:
            self._forget_old()
            self._out[build_id] = _Output()
            older = [k for k, j in self._jobs.items() if j.app == app and j.state != "releasing"]
        for key in older:
            with contextlib.suppress(Conflict):  # it ended, or began releasing, meanwhile
                self.cancel(key, reason)
        with self._cond:
            ahead = len(self._jobs)
            self._jobs[build_id] = _Job(app)
            if ahead >= self.workers:
                self._say(
                    build_id,
                    f"Waiting for {ahead} build(s) ahead of this one (the platform runs "
                    f"{self.workers} at a time)...",
                )
        self._pool.submit(self._run, build_id, source)

    def cancel(self, build_id: str, reason: str) -> None:
        """Stop the build: at once when it waits in line, else at its next step (a running
        RUN step's container is killed); a build releasing already is a :class:`Conflict`."""
        with self._cond:
            job = self._jobs.get(build_id)
            if job is None:
                raise Conflict(f"Build {build_id} has ended already; there is nothing to cancel.")
            if job.state == "releasing":
                raise Conflict(
                    f"Build {build_id} is releasing already and can no longer be cancelled; "
                    "roll back with `moor releases:rollback` once it is done."
                )
            if job.stop.is_set():
                return
            job.reason = reason
            job.stop.set()
            queued = job.state == "queued"
            if queued:
                del self._jobs[build_id]
        if queued:
            self._say(build_id, reason)
            self.emit(job.app, "api", reason)
            self._conclude(build_id, ProofStatus.FAILED, reason, None)

    def wait(self, build_id: str, timeout: float) -> None:
        """Until the build has finished (or ``timeout`` seconds passed)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (out := self._out.get(build_id)) is not None and not out.done:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)

    def follow(self, build_id: str, timeout: float = 3600.0) -> Iterator[str]:
        """The build's output lines as they come, until it is finished."""
        sent, deadline = 0, time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                out = self._out.get(build_id)
                if out is None:
                    return
                if sent >= len(out.lines) and not out.done:
                    self._cond.wait(5.0)
                lines, done = out.lines[sent:], out.done
            sent += len(lines)
            yield from lines
            if done and not lines:
                return

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - KEEP_FINISHED
        for key in [k for k, o in self._out.items() if o.done and o.finished_at < cutoff]:
            del self._out[key]

    def _say(self, build_id: str, line: str) -> None:
        with self._cond:
            out = self._out.setdefault(build_id, _Output())
            out.lines.append(line)
            del out.lines[:-MAX_LINES]
            self._cond.notify_all()

    def _conclude(
        self, build_id: str, status: ProofStatus, message: str, release: Release | None
    ) -> None:
        with self.store.session() as s:
            row = s.get(Build, build_id)
            if row is not None:
                row.status, row.message = status, message
                if release is not None:
                    row.release_id, row.release_version = release.id, release.version
        with self._cond:
            out = self._out.setdefault(build_id, _Output())
            out.done, out.finished_at = True, time.monotonic()
            self._cond.notify_all()

    def _checkpoint(
        self, build_id: str, deadline: float | None = None, state: str = "building"
    ) -> None:
        """Raise when the build was cancelled or is over its time; else enter ``state``."""
        with self._cond:
            job = self._jobs[build_id]
            if job.stop.is_set():
                raise BuildCancelled(job.reason)
            if deadline is not None and time.monotonic() >= deadline:
                raise BuildFailed(
                    f"The build exceeded its time limit of {self.limits.timeout:.0f}s and was "
                    "stopped; the app keeps running its current release."
                )
            job.state = state

    def _run(self, build_id: str, source: Path) -> None:
        with self._cond:
            job = self._jobs.get(build_id)
            if job is not None:
                job.state = "building"  # from now on, a cancel stops it at its next step
        with self.store.session() as s:
            build = s.get(Build, build_id)
            app = s.get(App, build.app_id) if build else None
            user = s.get(User, build.user_id) if build else None
            found = build is not None and app is not None and user is not None
            app_name, email = (app.name, user.email) if app and user else ("", "")
        if job is None or not found:  # cancelled while it waited (or its app is gone)
            source.unlink(missing_ok=True)
            with self._cond:
                self._jobs.pop(build_id, None)
            if job is not None:
                self._conclude(build_id, ProofStatus.FAILED, "The app was destroyed.", None)
            return
        assert user is not None
        self.emit(app_name, "api", f"Build started by user {email}")
        status, message, release = ProofStatus.FAILED, "", None
        try:
            release = self._build_and_release(build_id, app_name, user, source)
            status, message = ProofStatus.SUCCEEDED, ""
            self.emit(app_name, "api", f"Build succeeded (started by user {email})")
        except BuildCancelled as exc:
            message = job.reason or exc.message
            self._say(build_id, message)
            self.emit(app_name, "api", message)
        except MoorageError as exc:
            message = exc.message
            self._say(build_id, f"Build failed: {message}")
            self.emit(app_name, "api", f"Build failed: {message}")
        except Exception:
            log.exception("build %s of %s failed", build_id, app_name)
            message = "The platform failed to build; its operator has the details."
            self._say(build_id, message)
            self.emit(app_name, "api", f"Build failed: {message}")
        finally:
            source.unlink(missing_ok=True)
            with self._cond:
                self._jobs.pop(build_id, None)
        self._conclude(build_id, status, message, release)

    def _build_and_release(
        self, build_id: str, app: str, user: User, source: Path
    ) -> Release | None:
        self._checkpoint(build_id)
        workdir = Path(tempfile.mkdtemp(prefix="moorage-build-"))
        try:
            unpack(source, workdir)
            manifest = read_manifest(workdir)
            if not manifest.dockerfiles:
                raise BuildFailed(NO_SOURCE)
            images = self._build_images(build_id, app, workdir, manifest)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        updates = formation_updates(list(images), images, manifest)
        self._checkpoint(build_id, state="releasing")
        for line in self.setup(user, app, manifest) if self.setup is not None else []:
            self._say(build_id, line)
        self._say(build_id, "=== Releasing")
        release_id = self.apply(user, app, updates)
        if release_id is None:
            self._say(build_id, "The images are the ones already released; nothing to do.")
            return None
        release = self._wait_release(build_id, release_id)
        for line in self.after(user, app) if self.after is not None else []:
            self._say(build_id, line)
        return release

    def _build_images(
        self, build_id: str, app: str, workdir: Path, manifest: AppManifest
    ) -> dict[str, str]:
        """Build and push each process type's image; the time limit counts the builds only
        (pushes to the platform's own registry are the platform's time, not the app's)."""
        from moorage.images.localdocker import LocalDocker  # docker-py: loaded when used

        engine, images = LocalDocker(), {}
        deadline = time.monotonic() + self.limits.timeout
        lim, stop = self.limits, self._jobs[build_id].stop
        limits = {"memory": lim.memory, "memswap": lim.memory, "cpushares": lim.cpushares}
        for ptype, path in manifest.dockerfiles.items():
            dockerfile = workdir / path
            if not dockerfile.is_file():
                raise BuildFailed(
                    f"heroku.yml names {path} for {ptype}, but the tree has no {path}."
                )
            self._checkpoint(build_id, deadline)
            repo = f"{self.registry_host}/{app}/{ptype}"
            self._say(build_id, f"=== Building {ptype} ({path})")
            for line in engine.build(
                workdir, dockerfile, f"{repo}:latest", buildargs=manifest.build_args,
                limits=limits, timeout=max(deadline - time.monotonic(), 1.0), stop=stop,
                time_limit=lim.timeout,
            ):  # fmt: skip
                self._say(build_id, line)
            self._say(build_id, f"=== Pushing {ptype}")
            pushing = time.monotonic()
            token = self.issuer.issue(
                "moorage", [Access("repository", f"{app}/{ptype}", ("pull", "push"))], 900
            )
            for progress in engine.push(repo, "", auth={"registrytoken": token}):
                self._checkpoint(build_id)
                if progress.done:
                    self._say(build_id, f"{progress.layer}: {progress.status}")
            deadline += time.monotonic() - pushing
            images[ptype] = engine.image_id(f"{repo}:latest")
        return images

    def _wait_release(self, build_id: str, release_id: str) -> Release:
        deadline = time.monotonic() + self.limits.release_timeout
        announced = False
        while time.monotonic() < deadline:
            with self.store.session() as s:
                rel = releases.by_id(s, release_id)
                version, status, reason = rel.version, rel.status, rel.status_reason
                s.expunge(rel)
            if not announced:
                self._say(build_id, f"Releasing v{version}...")
                announced = True
            if status == ReleaseStatus.SUCCEEDED:
                self._say(build_id, f"Releasing v{version}... done")
                return rel
            if status == ReleaseStatus.FAILED:
                raise BuildFailed(
                    f"Release v{version} failed: {reason}. The previous release keeps serving."
                )
            time.sleep(0.5)
        raise BuildFailed(
            f"Release {release_id} is still pending after {self.limits.release_timeout:.0f}s."
        )


def unpack(source: Path, into: Path) -> None:
    """Extract the tar at ``source`` into ``into``: regular files and folders only inside it
    (tarfile's ``data`` filter refuses absolute paths, ``..``, links leaving the folder and
    device files)."""
    try:
        with tarfile.open(source, "r:*") as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise InvalidParams(f"The pushed source could not be unpacked: {exc}") from exc


def read_manifest(directory: Path) -> AppManifest:
    """heroku.yml (else Procfile and a Dockerfile for web), plus app.json health checks."""
    manifest = AppManifest()
    if (directory / "heroku.yml").is_file():
        parse_heroku_yml(_text(directory / "heroku.yml"), manifest)
    elif (directory / "Procfile").is_file():
        parse_procfile(_text(directory / "Procfile"), manifest)
    if not manifest.dockerfiles and (directory / "Dockerfile").is_file():
        manifest.dockerfiles["web"] = "Dockerfile"
    if (directory / "app.json").is_file():
        parse_app_json(_text(directory / "app.json"), manifest)
    return manifest


def _text(path: Path) -> str:
    if path.is_symlink():
        raise InvalidParams(f"{path.name} is a symbolic link; commit the file itself.")
    if path.stat().st_size > 1 << 20:
        raise InvalidParams(f"{path.name} is larger than 1 MiB.")
    try:
        return path.read_text()
    except UnicodeDecodeError as exc:
        raise InvalidParams(f"{path.name} is not UTF-8 text.") from exc


def release_with(platform: Platform) -> Apply:
    """The formation update a build ends with, as the API's own (authorized again)."""

    def apply(user: User, app: str, updates: list[dict[str, Any]]) -> str | None:
        from moorage.server.services.formation import apply_updates

        before = _latest(platform, app)
        apply_updates(platform, user, app, updates)
        after = _latest(platform, app)
        return after if after != before else None

    return apply


def _latest(platform: Platform, app: str) -> str | None:
    with platform.store.session() as s:
        found = s.scalar(select(App).where(App.name == app))
        latest = releases.latest(s, found) if found is not None else None
        return latest.id if latest is not None else None
