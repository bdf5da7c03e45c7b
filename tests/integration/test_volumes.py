"""Persistent volumes on the real engine (issue 18 item 5): what a dyno writes under its
mount survives restarts, releases and a restart of ``moor server``; one dyno at most; the
files move with volumes:export/import and go with volumes:destroy and apps:destroy."""

from __future__ import annotations

import re
import tarfile
import time
from pathlib import Path

import docker
import pytest

from tests.livefixtures import LivePlatform
from tests.standin import StandIn

pytestmark = pytest.mark.integration

HITS = Path(__file__).resolve().parents[1] / "fixtures" / "standins" / "hits"
IMAGE = "ghcr.io/acme/hits:1"


def _hits(platform: LivePlatform, app: str, after: int, timeout: float = 120) -> int:
    """The counter once the app serves one above ``after`` (a restart may take a moment)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        last = platform.get(app).text
        found = re.search(r"hits=(\d+)", last)
        if found and int(found[1]) > after:
            return int(found[1])
        time.sleep(0.5)
    raise AssertionError(f"{app} never counted past {after}: last answer {last[:200]!r}")


def _engine_volumes(app: str) -> list[str]:
    return [v.name for v in docker.from_env().volumes.list(filters={"label": f"moorage.app={app}"})]


def _gone(app: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _engine_volumes(app) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _engine_volumes(app)


def test_a_volume_keeps_files_across_restarts_releases_and_the_server(
    platform: LivePlatform, standin: StandIn, tmp_path: Path
) -> None:
    standin.build(IMAGE, HITS)
    app = platform.create_app("vol")
    platform.moor("container:release", "web", "--image", IMAGE, "-a", app)
    assert "no data" in platform.wait_for(app, "no data").text  # nothing mounted: no /data
    platform.moor("volumes:create", "data", "--size", "100MB", "-a", app)
    mounted = platform.moor("volumes:mount", "data", "/data", "--type", "web", "-a", app)
    assert "at most one dyno" in mounted.stdout
    count = _hits(platform, app, 0)
    assert "uid=65534" in platform.get(app).text  # the dyno's own user owns the volume
    count += 1

    refused = platform.moor("ps:scale", "web=2", "-a", app, check=False)
    assert refused.returncode != 0 and "runs at most one dyno" in refused.stderr

    platform.moor("ps:restart", "-a", app)
    count = _hits(platform, app, count)
    platform.moor("config:set", "NEW=release", "-a", app)  # a new release: a new container
    count = _hits(platform, app, count)
    platform.kill_server()
    platform.start_server()
    count = _hits(platform, app, count)

    listed = platform.json("volumes", "-a", app)
    assert [(v["name"], v["process_type"], v["path"], v["size_mb"]) for v in listed] == [
        ("data", "web", "/data", 100)
    ]
    assert listed[0]["used_bytes"] > 0

    archive = tmp_path / "data.tar"
    platform.moor("volumes:export", "data", "-o", str(archive), "-a", app)
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("hits"))
        saved = tar.extractfile(member).read().decode().count("hit")  # type: ignore[union-attr]
    assert saved >= count

    # the files move to another volume: unmount, import into a new one, mount that
    platform.moor("volumes:unmount", "data", "-a", app)
    platform.moor("volumes:create", "copy", "-a", app)
    platform.moor("volumes:mount", "copy", "/data", "--type", "web", "-a", app)
    _hits(platform, app, 0)
    platform.moor("volumes:import", "copy", str(archive), "-a", app)
    assert _hits(platform, app, saved) > saved

    platform.moor("volumes:destroy", "data", "--confirm", app, "-a", app)
    assert [v["name"] for v in platform.json("volumes", "-a", app)] == ["copy"]
    deadline = time.monotonic() + 60
    while any(n.endswith("-data") for n in _engine_volumes(app)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [n.rsplit("-", 1)[1] for n in _engine_volumes(app)] == ["copy"]

    platform.moor("apps:destroy", "-a", app, "--confirm", app)
    _gone(app)


def test_volume_input_is_checked(platform: LivePlatform) -> None:
    app = platform.create_app("volbad")
    bad = [
        (("volumes:create", "Bad_Name"), "Volume name"),
        (("volumes:create", "ok", "--size", "lots"), "is not a size"),
        (("volumes:mount", "missing", "/data"), "Volume 'missing' not found"),
    ]
    for args, message in bad:
        out = platform.moor(*args, "-a", app, check=False)
        assert out.returncode != 0 and message in out.stderr, out.stderr
    platform.moor("volumes:create", "ok", "-a", app)
    for path, message in [("/etc", "system files"), ("data", "absolute path")]:
        out = platform.moor("volumes:mount", "ok", path, "-a", app, check=False)
        assert out.returncode != 0 and message in out.stderr, out.stderr
    out = platform.moor("volumes:destroy", "ok", "-a", app, check=False)
    assert out.returncode != 0 and "--confirm" in out.stderr
