"""The control plane's own view of the registry: resolve pushed images, drop repositories."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from moorage.errors import ImageNotPushed, RuntimeFailure
from moorage.registry.tokens import Access, TokenIssuer

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)
FREE_SPACE = (
    "Ask the platform's operator to free space on the registry's disk (`moor server` logs "
    "where it is) or destroy apps you no longer need, then push again."
)


@dataclass(frozen=True)
class PushedImage:
    """An image as stored: its manifest digest and config digest (the Docker image id)."""

    repository: str
    manifest_digest: str
    config_digest: str


class RegistryClient:
    """Reads manifests with a self-issued token; removes an app's repositories on delete."""

    def __init__(self, host: str, issuer: TokenIssuer, storage: Path) -> None:
        self.host = host
        self._issuer = issuer
        self.storage = storage

    def pull_token(self, repository: str) -> str:
        return self._issuer.issue("moorage", [Access("repository", repository, ("pull",))])

    def manifest(self, repo: str, reference: str, accept: str = MANIFEST_TYPES) -> httpx.Response:
        """The registry's answer for ``repo:reference`` (any status), read with our token."""
        headers = {"Accept": accept, "Authorization": f"Bearer {self.pull_token(repo)}"}
        try:
            return httpx.get(f"http://{self.host}/v2/{repo}/manifests/{reference}", headers=headers)
        except httpx.HTTPError as exc:
            raise RuntimeFailure(f"The registry at {self.host} is unreachable: {exc}") from exc

    def latest(self, app: str, process_type: str) -> PushedImage:
        repo = f"{app}/{process_type}"
        resp = self.manifest(repo, "latest")
        if resp.status_code == 404:
            raise ImageNotPushed(
                f"No image was pushed for process type {process_type!r} of app {app}. "
                f"Run `moor container:push {process_type} -a {app}` first."
            )
        if resp.status_code != 200:
            raise RuntimeFailure(f"The registry answered {resp.status_code} for {repo}:latest.")
        manifest = resp.json()
        config = manifest.get("config", {}).get("digest")
        if not config:
            raise ImageNotPushed(f"{repo}:latest is a multi-platform index; push a single image.")
        return PushedImage(repo, resp.headers["Docker-Content-Digest"], config)

    def reference(self, image: PushedImage) -> str:
        return f"{self.host}/{image.repository}@{image.manifest_digest}"

    def copy_image(self, reference: str, repository: str) -> str:
        """``reference`` (an image of this registry, ``host/app/web@sha256:...``) also under
        ``repository`` by the same digest, blobs mounted rather than copied; the new
        reference. What a promotion releases, so the target keeps its image when the source
        app and its repositories are destroyed."""
        prefix = f"{self.host}/"
        source, _, digest = reference.removeprefix(prefix).partition("@")
        if not reference.startswith(prefix) or not digest:
            return reference  # not ours to copy: the engine pulls it as it did for the source
        if source == repository:
            return reference
        token = self._issuer.issue(
            "moorage",
            [
                Access("repository", source, ("pull",)),
                Access("repository", repository, ("pull", "push")),
            ],
        )
        headers = {"Authorization": f"Bearer {token}"}
        resp = self.manifest(source, digest)
        if resp.status_code != 200:
            raise RuntimeFailure(
                f"The registry has no image {reference} any more ({resp.status_code}); "
                "release the source app again, then promote."
            )
        manifest = resp.json()
        blobs = [manifest.get("config", {}), *manifest.get("layers", [])]
        try:
            for blob in blobs:
                if "digest" in blob:
                    self._mount(repository, source, str(blob["digest"]), headers)
            put = httpx.put(
                f"http://{self.host}/v2/{repository}/manifests/{digest}",
                content=resp.content,
                headers={**headers, "Content-Type": resp.headers["Content-Type"]},
            )
        except httpx.HTTPError as exc:
            raise RuntimeFailure(f"The registry at {self.host} is unreachable: {exc}") from exc
        if put.status_code not in (200, 201):
            raise RuntimeFailure(
                f"The registry refused {repository}@{digest} ({put.status_code}): {put.text[:200]}"
            )
        return f"{self.host}/{repository}@{digest}"

    def _mount(self, repository: str, source: str, digest: str, headers: dict[str, str]) -> None:
        resp = httpx.post(
            f"http://{self.host}/v2/{repository}/blobs/uploads/",
            params={"mount": digest, "from": source},
            headers=headers,
        )
        if resp.status_code != 201:
            raise RuntimeFailure(
                f"The registry did not mount {digest[:19]} from {source} into {repository} "
                f"({resp.status_code}): {resp.text[:200]}"
            )

    def _repositories(self) -> Path:
        return self.storage / "docker" / "registry" / "v2" / "repositories"

    def delete_app(self, app: str) -> None:
        """Remove the app's repositories (blobs go at the next garbage collection)."""
        shutil.rmtree(self._repositories() / app, ignore_errors=True)

    def space(self) -> tuple[int, int]:
        """(free, total) bytes of the filesystem the registry stores images on."""
        self.storage.mkdir(parents=True, exist_ok=True)
        st = os.statvfs(self.storage)
        return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize

    def nearly_full(self) -> str | None:
        """Why a push should be refused now (under min(1 GiB, 5 %) free), or None."""
        free, total = self.space()
        if free >= min(1 << 30, total // 20):
            return None
        return (
            f"The registry's disk is full: {free >> 20} MiB free of {total >> 20} MiB. {FREE_SPACE}"
        )

    def filled_during_push(self, repository: str) -> str:
        """Why a push of ``repository`` failed part-way, with the space there is now."""
        free, total = self.space()
        return (
            f"The registry's disk is full: an upload to {repository} failed with "
            f"'no space left on device' ({free >> 20} MiB free of {total >> 20} MiB now, "
            f"less than the image needs). {FREE_SPACE}"
        )

    def uploads_in_progress(self) -> bool:
        return any(self._repositories().glob("*/*/_uploads/*"))

    def purge_idle_uploads(self, idle: float, now: float | None = None) -> int:
        """Remove uploads nothing has written to for ``idle`` seconds (a push that failed,
        for instance on a full disk, leaves its partial layer behind); bytes freed."""
        now = time.time() if now is None else now
        freed = 0
        for upload in self._repositories().glob("*/*/_uploads/*"):
            files = [p for p in upload.rglob("*") if p.is_file()]
            try:
                newest = max((p.stat().st_mtime for p in files), default=upload.stat().st_mtime)
                size = sum(p.stat().st_size for p in files)
            except FileNotFoundError:
                continue  # finished or removed meanwhile
            if now - newest >= idle:
                shutil.rmtree(upload, ignore_errors=True)
                freed += size
        return freed
