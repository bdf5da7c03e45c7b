"""The control plane's own view of the registry: resolve pushed images, drop repositories."""

from __future__ import annotations

import shutil
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
        self._storage = storage

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

    def delete_app(self, app: str) -> None:
        """Remove the app's repositories (blobs go at the next garbage collection)."""
        repo_dir = self._storage / "docker" / "registry" / "v2" / "repositories" / app
        shutil.rmtree(repo_dir, ignore_errors=True)
