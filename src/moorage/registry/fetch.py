"""Finding a prebuilt image (mirror first, then its own registry) and copying it into the
platform's registry, pinned by digest.

A manifest list is resolved to its linux/amd64 image before anything is copied, so the
release records the digest of the image that runs, and its layer sizes are known up front
(for the space check and the progress lines).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace

from moorage.errors import ImageUnavailable, MoorageError, RegistryUnreachable
from moorage.registry.mirrors import Mirror, Source, sources
from moorage.registry.skopeo import Login, Skopeo
from moorage.spec.bytesizes import mib
from moorage.spec.imageref import ImageRef, parse

LISTS = (
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
)
PLATFORM = ("linux", "amd64")


@dataclass(frozen=True)
class Resolved:
    """An image found: where it is copied from (pinned), its digest and blob sizes."""

    ref: ImageRef
    source: Source
    digest: str
    layers: tuple[int, ...]
    config_size: int

    @property
    def size(self) -> int:
        return sum(self.layers) + self.config_size

    @property
    def pinned(self) -> str:
        """What a user reads in the release: ``ghcr.io/o/a@sha256:...``."""
        return str(self.ref.pinned(self.digest))


def _pin(source: Source, digest: str) -> Source:
    return replace(source, reference=str(parse(source.reference).pinned(digest)))


def _digest(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


class ImageFetcher:
    def __init__(self, skopeo: Skopeo, mirrors: dict[str, Mirror]) -> None:
        self.skopeo = skopeo
        self.mirrors = mirrors

    def resolve(self, ref: ImageRef, logins: dict[str, Login]) -> Resolved:
        """Ask each source in turn; the error says what every one of them answered."""
        failures: list[tuple[Source, MoorageError]] = []
        for source in sources(ref, self.mirrors):
            login = logins.get(source.mirror_of or source.registry)
            try:
                return self._resolve_at(ref, source, login)
            except (ImageUnavailable, RegistryUnreachable) as exc:
                failures.append((source, exc))
        raise self._why(ref, failures)

    def _resolve_at(self, ref: ImageRef, source: Source, login: Login | None) -> Resolved:
        raw, media = self.skopeo.raw_manifest(source, login)
        manifest = json.loads(raw)
        if media in LISTS or "manifests" in manifest:
            digest = _platform_digest(ref, manifest)
            source = _pin(source, digest)
            raw, _ = self.skopeo.raw_manifest(source, login)
            manifest = json.loads(raw)
        digest = _digest(raw)
        layers = tuple(int(layer.get("size", 0)) for layer in manifest.get("layers", []))
        config = int(manifest.get("config", {}).get("size", 0))
        return Resolved(ref, _pin(source, digest), digest, layers, config)

    def copy(
        self,
        image: Resolved,
        login: Login | None,
        dest: str,
        token: str,
        progress: Callable[[str], None],
    ) -> None:
        """Copy ``image`` to ``dest`` (host/repo:tag), saying each layer as it starts."""
        total, count = image.size, len(image.layers)
        seen: list[str] = []

        def on_line(line: str) -> None:
            if line.startswith("Copying blob"):
                seen.append(line)
                size = image.layers[len(seen) - 1] if len(seen) <= count else 0
                progress(f"Copying layer {len(seen)}/{count} ({mib(size)}, image {mib(total)})")

        self.skopeo.copy(image.source, login, dest, token, on_line)

    @staticmethod
    def _why(ref: ImageRef, failures: list[tuple[Source, MoorageError]]) -> MoorageError:
        for _, exc in failures:
            if "unauthorized" in exc.message:
                return exc
        said = "; ".join(exc.message.split(": ", 1)[-1] for _, exc in failures)
        unreachable = all(isinstance(exc, RegistryUnreachable) for _, exc in failures)
        if len(failures) == 1 and not unreachable:
            return failures[0][1]
        hint = (
            f" On a host without the internet, the platform's operator can set "
            f"MOORAGE_REGISTRY_MIRRORS={ref.host}=https://<mirror> (see the README)."
        )
        kind = RegistryUnreachable if unreachable else ImageUnavailable
        return kind(f"{ref}: {said}.{hint}")


def _platform_digest(ref: ImageRef, index: dict[str, object]) -> str:
    entries = index.get("manifests")
    found = []
    for entry in entries if isinstance(entries, list) else []:
        plat = entry.get("platform", {}) if isinstance(entry, dict) else {}
        pair = (plat.get("os"), plat.get("architecture"))
        found.append("/".join(str(p) for p in pair))
        if pair == PLATFORM:
            return str(entry["digest"])
    raise ImageUnavailable(
        f"{ref} is a multi-platform image without a linux/amd64 image "
        f"(it has {', '.join(found) or 'none'}); this platform runs linux/amd64."
    )
