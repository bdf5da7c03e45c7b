"""Runs releases from image references in the background: resolve each distinct image
(mirror first), check the registry has room, copy it in (pinned by digest), then release
exactly as after ``container:push``. Nothing is released unless every image was copied, so
a failure leaves the running release serving.

Each job's progress lines go to the app's log (``moorage[image]``) and are kept in memory
for the CLI, which reads them back with the job (``GET .../image-releases/{id}``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select

from moorage.errors import MoorageError, StorageFull
from moorage.registry.client import FREE_SPACE, RegistryClient
from moorage.registry.fetch import ImageFetcher, Resolved
from moorage.registry.skopeo import Login
from moorage.registry.tokens import Access, TokenIssuer
from moorage.server.services import image_releases as service
from moorage.server.services import releases
from moorage.server.store.db import Store
from moorage.server.store.models import App, ImageRelease, User
from moorage.spec.bytesizes import mib
from moorage.spec.imageref import parse
from moorage.spec.status import ProofStatus

if TYPE_CHECKING:
    from moorage.server.platform import Platform

log = logging.getLogger("moorage.server")
SPARE_FRACTION = 0.05  # the registry keeps this much of its disk free after a copy
MAX_LINES = 500

FORGET_PREFETCHED_AFTER = 300.0  # seconds: the rollout has made its own image by then


class Warmer(Protocol):
    """What pulls an image into the engines while it is copied (the reconciler)."""

    def prefetch(self, reference: str, auth: dict[str, str] | None) -> bool: ...

    def forget_prefetched(self, reference: str) -> None: ...


# (user, app name, formation updates, {type: (copy's reference, source)}) -> version or None
Apply = Callable[[User, str, list[dict[str, Any]], dict[str, tuple[str, str]]], int | None]


class ImageJobs:
    def __init__(
        self,
        store: Store,
        registry: RegistryClient,
        issuer: TokenIssuer,
        fetcher: ImageFetcher,
        emit: Callable[[str, str, str], None],
        apply: Apply,
        warmer: Warmer | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.issuer = issuer
        self.fetcher = fetcher
        self.emit = emit
        self.apply = apply
        self.warmer = warmer
        self.copy_timeout = fetcher.skopeo.copy_timeout
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="image")
        self._lock = threading.Lock()
        self._lines: dict[str, list[str]] = {}

    def output(self, job_id: str) -> list[str]:
        with self._lock:
            return list(self._lines.get(job_id, []))

    def recover(self) -> None:
        """Jobs a stopped server was running failed; say so (they can be run again)."""
        with self.store.session() as s:
            for job in s.scalars(
                select(ImageRelease).where(ImageRelease.status == ProofStatus.PENDING)
            ):
                job.status = ProofStatus.FAILED
                job.message = "The platform restarted during the copy; release the image again."

    def submit(self, job_id: str) -> None:
        self._pool.submit(self._run, job_id)

    def _say(self, job_id: str, app: str, line: str) -> None:
        with self._lock:
            lines = self._lines.setdefault(job_id, [])
            lines.append(line)
            del lines[:-MAX_LINES]
        self.emit(app, "image", line)

    def _run(self, job_id: str) -> None:
        with self.store.session() as s:
            job = s.get(ImageRelease, job_id)
            if job is None:
                return
            app = s.get(App, job.app_id)
            user = s.get(User, job.user_id)
            if app is None or user is None:
                return
            app_name, updates, logins = app.name, list(job.updates), service.logins(s, app)
        status, message, version = ProofStatus.FAILED, "", None
        try:
            copied = self._copy_all(job_id, app_name, updates, logins)
            version = self.apply(user, app_name, _pushed_form(updates, copied), copied)
            status = ProofStatus.SUCCEEDED
            message = f"Released v{version}" if version else "Already released; nothing to do"
            self._say(job_id, app_name, message)
        except MoorageError as exc:
            message = exc.message
            self._say(job_id, app_name, f"Release failed: {message}")
        except Exception:
            log.exception("image release %s of %s failed", job_id, app_name)
            message = "The platform failed to release the image; its operator has the details."
            self._say(job_id, app_name, message)
        with self.store.session() as s:
            row = s.get(ImageRelease, job_id)
            if row is not None:
                row.status, row.message, row.release_version = status, message, version

    def _copy_all(
        self, job_id: str, app: str, updates: list[dict[str, Any]], logins: dict[str, Any]
    ) -> dict[str, tuple[str, str]]:
        """Copy each distinct image once; the types that share it release the same copy."""
        wanted: dict[str, list[str]] = {}
        for u in updates:
            if "image" in u:
                wanted.setdefault(u["image"], []).append(u["type"])
        found: dict[str, Resolved] = {}
        for ref in wanted:
            self._say(job_id, app, f"Resolving {ref}")
            image = self.fetcher.resolve(parse(ref), logins)
            size = f"{len(image.layers)} layers, {mib(image.size)}"
            self._say(job_id, app, f"{ref} is {image.pinned} ({size}) at {image.source.registry}")
            found[ref] = image
        self._check_space(list(found.values()))
        copied: dict[str, tuple[str, str]] = {}
        for ref, image in found.items():
            first = wanted[ref][0]
            repo = f"{app}/{first}"
            token = self.issuer.issue(
                "moorage", [Access("repository", repo, ("pull", "push"))], int(self.copy_timeout)
            )
            login = logins.get(image.source.mirror_of or image.source.registry)
            self._say(job_id, app, f"Copying {image.pinned} into the platform's registry")
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as side:
                warming = side.submit(self._prefetch, image, login)
                self.fetcher.copy(
                    image, login, f"{self.registry.host}/{repo}:latest", token,
                    lambda line: self._say(job_id, app, line),
                )  # fmt: skip
                warming.result()
            reference = f"{self.registry.host}/{repo}@{image.digest}"
            copied.update({ptype: (reference, str(image.ref)) for ptype in wanted[ref]})
        return copied

    def _prefetch(self, image: Resolved, login: Login | None) -> None:
        """Pull the image into the engines from its source while it is copied, so that the
        rollout finds its layers; the reference made is dropped a while later."""
        if self.warmer is None:
            return
        auth = {"username": login.username, "password": login.password} if login else None
        reference = image.source.reference
        if self.warmer.prefetch(reference, auth):
            timer = threading.Timer(
                FORGET_PREFETCHED_AFTER, self.warmer.forget_prefetched, (reference,)
            )
            timer.daemon = True
            timer.start()

    def _check_space(self, images: list[Resolved]) -> None:
        free, total = self.registry.space()
        need = sum(i.size for i in images)
        if need > free - total * SPARE_FRACTION:
            raise StorageFull(
                f"The registry's disk has {free >> 20} MiB free of {total >> 20} MiB; "
                f"{', '.join(i.pinned for i in images)} need {need >> 20} MiB (and "
                f"{SPARE_FRACTION:.0%} stays free). Nothing was released. {FREE_SPACE}"
            )


def _pushed_form(
    updates: list[dict[str, Any]], copied: dict[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    """The updates as formation updates: each copied image as the digest it has now."""
    out = []
    for u in updates:
        u = {k: v for k, v in u.items() if k != "image"}
        if u["type"] in copied:
            u["docker_image"] = copied[u["type"]][0].rsplit("@", 1)[1]
        out.append(u)
    return out


def release_with(platform: Platform) -> Apply:
    """The formation update a job ends with, as the API's own (authorized again: a user
    who lost the app meanwhile releases nothing)."""

    def apply(
        user: User, app: str, updates: list[dict[str, Any]], copied: dict[str, tuple[str, str]]
    ) -> int | None:
        from moorage.server.services.formation import apply_updates

        before = _latest_version(platform, app)
        apply_updates(platform, user, app, updates, copied)
        after = _latest_version(platform, app)
        return after if after != before else None

    return apply


def _latest_version(platform: Platform, app: str) -> int:
    with platform.store.session() as s:
        found = s.scalar(select(App).where(App.name == app))
        latest = releases.latest(s, found) if found is not None else None
        return latest.version if latest is not None else 0
