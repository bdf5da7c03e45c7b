"""Image references, mirrors, skopeo's errors and release updates (issue 17), at their seams."""

from __future__ import annotations

from pathlib import Path

import pytest

from moorage.errors import ImageUnavailable, InvalidParams, RegistryUnreachable, StorageFull
from moorage.registry.fetch import ImageFetcher, Resolved
from moorage.registry.mirrors import Source, parse_mirrors, sources
from moorage.registry.skopeo import Login, Skopeo, explain
from moorage.server.background.imagejobs import ImageJobs
from moorage.server.services.image_releases import parse_updates, registry_host
from moorage.spec.imageref import ImageRef, parse

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "host", "path", "tag", "digest"),
    [
        ("redis", "docker.io", "library/redis", None, None),
        ("redis:7", "docker.io", "library/redis", "7", None),
        ("myorg/myapp:0.0.1", "docker.io", "myorg/myapp", "0.0.1", None),
        ("ghcr.io/o/a:1.2", "ghcr.io", "o/a", "1.2", None),
        ("localhost:5000/a", "localhost:5000", "a", None, None),
        (f"host:5000/a/b@{DIGEST}", "host:5000", "a/b", None, DIGEST),
        (f"us-docker.pkg.dev/p/r/i:v1@{DIGEST}", "us-docker.pkg.dev", "p/r/i", "v1", DIGEST),
        ("index.docker.io/library/nginx", "docker.io", "library/nginx", None, None),
    ],
)
def test_references_parse_as_docker_reads_them(
    text: str, host: str, path: str, tag: str | None, digest: str | None
) -> None:
    assert parse(text) == ImageRef(host, path, tag, digest)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "give a name"),
        ("Redis:7", "lowercase"),
        ("redis:7 latest", "give a name"),
        ("https://ghcr.io/o/a", "no scheme"),
        ("ghcr.io/o/a@sha256:12", "a digest is sha256:"),
        ("ghcr.io/o/a:-bad", "the tag"),
        ("ghcr.io//a", "lowercase"),
    ],
)
def test_malformed_references_say_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(InvalidParams, match=why):
        parse(text)


def test_mirrors_are_asked_first_with_their_prefix() -> None:
    mirrors = parse_mirrors("docker.io=https://m.internal:5000,*=http://127.0.0.1:5001/{host}")
    hub = sources(parse("redis:7"), mirrors)
    assert [s.reference for s in hub] == [
        "m.internal:5000/library/redis:7",
        "docker.io/library/redis:7",
    ]
    assert hub[0].tls and hub[0].mirror_of == "docker.io"
    ghcr = sources(parse("ghcr.io/o/a:1"), mirrors)[0]
    assert (ghcr.reference, ghcr.tls) == ("127.0.0.1:5001/ghcr.io/o/a:1", False)
    assert sources(parse("ghcr.io/o/a:1"), {}) == [Source("ghcr.io/o/a:1", "ghcr.io", True)]
    with pytest.raises(ValueError, match="host=URL"):
        parse_mirrors("docker.io")


def test_skopeos_failures_become_sentences() -> None:
    src = Source("127.0.0.1:5001/ghcr.io/o/a:1", "127.0.0.1:5001", False, "ghcr.io")

    def fatal(msg: str) -> str:
        return f'time="2026-12-06T07:22:56Z" level=fatal msg="{msg}"\n'

    missing = explain(fatal("reading manifest 1: manifest unknown: manifest unknown"), src, None)
    assert isinstance(missing, ImageUnavailable) and "has no such image" in missing.message
    denied = explain(fatal("unauthorized: authentication required"), src, None)
    assert "moor registry:login ghcr.io -a APP" in denied.message
    refused = explain(fatal("unauthorized"), src, Login("ghcr.io", "u", "p"))
    assert "were refused" in refused.message and "p" not in refused.message.split(":")[-1]
    gone = explain(fatal("dial tcp: connection refused"), src, None)
    assert isinstance(gone, RegistryUnreachable)
    assert isinstance(explain(fatal("write: no space left on device"), src, None), StorageFull)


def test_a_mirror_miss_and_an_unreachable_registry_are_both_named() -> None:
    class Failing(Skopeo):
        def raw_manifest(self, source: Source, login: Login | None) -> tuple[bytes, str]:
            if source.mirror_of:
                raise ImageUnavailable(f"{source.reference}: {source.registry} has no such image")
            raise RegistryUnreachable(f"{source.reference}: {source.registry} could not be reached")

    mirrors = parse_mirrors("*=http://127.0.0.1:5001/{host}")
    fetcher = ImageFetcher(Failing(Path("/nonexistent")), mirrors)
    with pytest.raises(ImageUnavailable) as err:
        fetcher.resolve(parse("ghcr.io/o/a:1"), {})
    message = err.value.message
    assert "127.0.0.1:5001 has no such image" in message
    assert "ghcr.io could not be reached" in message and "MOORAGE_REGISTRY_MIRRORS" in message


def test_an_update_names_one_image_per_process_type() -> None:
    parsed = parse_updates([{"type": "web", "image": "redis:7", "command": "redis-server"}])
    assert parsed == [
        {"type": "web", "image": "docker.io/library/redis:7", "command": "redis-server"}
    ]
    with pytest.raises(InvalidParams, match="not both"):
        parse_updates([{"type": "web", "image": "redis:7", "docker_image": DIGEST}])
    with pytest.raises(InvalidParams, match="two images"):
        parse_updates(
            [{"type": "web", "image": "redis:7"}, {"type": "web", "docker_image": DIGEST}]
        )
    with pytest.raises(InvalidParams, match="at least one image"):
        parse_updates([{"type": "web", "quantity": 2}])
    assert registry_host("https://GHCR.io/") == "ghcr.io"
    with pytest.raises(InvalidParams):
        registry_host("ghcr.io:99999")


def test_an_image_bigger_than_the_registrys_free_space_is_refused_before_copying() -> None:
    class Small:
        def space(self) -> tuple[int, int]:
            return 300 << 20, 1 << 30

    jobs = ImageJobs.__new__(ImageJobs)
    jobs.registry = Small()  # type: ignore[assignment]
    big = Resolved(parse("ghcr.io/o/a:1"), Source("x", "x", True), DIGEST, (400 << 20,), 1000)
    with pytest.raises(StorageFull, match="need 400 MiB"):
        jobs._check_space([big])
    jobs._check_space([Resolved(big.ref, big.source, DIGEST, (10 << 20,), 1000)])
