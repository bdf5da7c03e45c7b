"""Image references as Docker reads them: ``redis:7``, ``ghcr.io/o/a:1.2``,
``host:5000/a@sha256:<64 hex>``.

The grammar is Distribution's (``distribution/reference``): a domain is recognised by a dot,
a port or ``localhost``; a name without one is Docker Hub's (``docker.io``, ``library/`` for
a single component); no tag and no digest is ``latest``. docker-py's helpers split such
strings but validate nothing, so the checks are here, each with the reason in the error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from moorage.errors import InvalidParams

DOCKER_HUB = "docker.io"
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]{1,5})?"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
MAX_NAME = 255


@dataclass(frozen=True)
class ImageRef:
    """A parsed reference; ``host`` is ``docker.io`` for Docker Hub names."""

    host: str
    path: str  # "library/redis", "o/a"
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        return f"{self.host}/{self.path}{self.suffix}"

    @property
    def suffix(self) -> str:
        return f"@{self.digest}" if self.digest else f":{self.tag or 'latest'}"

    def pinned(self, digest: str) -> ImageRef:
        """The same repository at exactly ``digest`` (what a release records)."""
        return ImageRef(self.host, self.path, None, digest)

    def at(self, host: str, prefix: str = "") -> str:
        """This image's repository and tag or digest on another registry (a mirror)."""
        path = f"{prefix.strip('/')}/{self.path}" if prefix.strip("/") else self.path
        return f"{host}/{path}{self.suffix}"


def parse(text: str) -> ImageRef:
    """``text`` as Docker reads it, or InvalidParams saying what is wrong."""
    ref = text.strip()
    if not ref or any(c.isspace() for c in ref) or "://" in ref:
        raise _bad(text, "give a name such as redis:7 or ghcr.io/org/app:1.2 (no scheme)")
    rest, _, digest = ref.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        raise _bad(text, "a digest is sha256: followed by 64 lowercase hex digits")
    name, tag = rest, None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = rest.rsplit(":", 1)
        if not _TAG.fullmatch(tag):
            raise _bad(text, f"the tag {tag!r} may have letters, digits, _ . - (128 at most)")
    host, path = _split(name, text)
    return ImageRef(host, path, tag, digest or None)


def _split(name: str, text: str) -> tuple[str, str]:
    first, sep, remainder = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        if not _DOMAIN.fullmatch(first):
            raise _bad(text, f"{first!r} is not a registry host name")
        host, path = first.lower(), remainder
    else:
        host, path = DOCKER_HUB, name
    if host in ("index.docker.io", "registry-1.docker.io"):
        host = DOCKER_HUB
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if len(path) > MAX_NAME or not all(_COMPONENT.fullmatch(c) for c in path.split("/")):
        raise _bad(
            text,
            "repository names are lowercase letters, digits and . _ - between slashes",
        )
    return host, path


def _bad(text: str, why: str) -> InvalidParams:
    return InvalidParams(f"{text!r} is not an image reference: {why}.")
