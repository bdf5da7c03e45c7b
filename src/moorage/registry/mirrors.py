"""Registry mirrors for hosts without the internet (``MOORAGE_REGISTRY_MIRRORS``).

``"docker.io=https://mirror.internal:5000,ghcr.io=http://10.0.0.5:5000/ghcr"`` maps a
registry host to a mirror that serves the same repositories, optionally under a path
prefix (as a Harbor proxy project does); ``*`` is every other host, and ``{host}`` in its
prefix is replaced by the image's host, so one registry can stand in for all of them. As in
containerd's ``hosts.toml``, the mirror is asked first and the image's own registry after.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from moorage.spec.imageref import ImageRef


@dataclass(frozen=True)
class Mirror:
    host: str  # host[:port]
    prefix: str = ""  # repository path prefix on the mirror, may hold {host}
    tls: bool = True  # https (verified) or plain http

    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}/{self.prefix}".rstrip("/")


@dataclass(frozen=True)
class Source:
    """One place to pull an image from: its reference there, and how to talk to it."""

    reference: str
    registry: str  # the host asked, named in errors
    tls: bool
    mirror_of: str | None = None  # the image's own host, for a mirror


def parse_mirrors(text: str) -> dict[str, Mirror]:
    out: dict[str, Mirror] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        host, sep, url = item.partition("=")
        parts = urlsplit(url.strip())
        if not sep or parts.scheme not in ("http", "https") or not parts.netloc or not host:
            raise ValueError(
                f"MOORAGE_REGISTRY_MIRRORS item {item!r} is not host=URL "
                "(e.g. docker.io=https://mirror.internal:5000 or *=http://10.0.0.5:5000/{host})"
            )
        out[host.strip().lower()] = Mirror(
            parts.netloc, parts.path.strip("/"), parts.scheme == "https"
        )
    return out


def sources(ref: ImageRef, mirrors: dict[str, Mirror]) -> list[Source]:
    """Where to pull ``ref`` from, in order: its mirror (if any), then its own registry."""
    own = Source(str(ref), ref.host, tls=not _loopback(ref.host))
    mirror = mirrors.get(ref.host) or mirrors.get("*")
    if mirror is None:
        return [own]
    prefix = mirror.prefix.replace("{host}", ref.host)
    return [Source(ref.at(mirror.host, prefix), mirror.host, mirror.tls, ref.host), own]


def _loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in ("localhost", "127.0.0.1", "[::1]") or name.startswith("127.")
