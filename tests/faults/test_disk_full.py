"""The registry's disk fills up during a push.

The registry's storage directory gets a small tmpfs of its own for this test (mounted over
it, unmounted afterwards, so the session's other images are untouched) with a file that
leaves less room than the image needs. The push must fail with an error that says the disk
is full (whatever Docker's retries did: the platform reads why from the registry's log), say
so in the app's log stream too (what a Heroku CLI user sees), leave no partial upload behind
once it has failed, and not damage the registry: after room is made, the same push succeeds
and the image runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from moorage.registry.process import RegistryProcess
from tests.faults import record
from tests.livefixtures import LivePlatform
from tests.standin import StandIn

pytestmark = pytest.mark.integration
TINY = Path(__file__).parents[1] / "integration" / "apps" / "tiny"
SIZE_MB = 400


def _used(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def _registry_settled(platform: LivePlatform) -> None:
    """Wait until the registry answers and holds no deleted upload open (the platform
    restarts it to give that space back)."""
    proc = RegistryProcess(platform.data / "registry", 0, "")
    deadline = time.monotonic() + 60
    while True:
        try:
            up = httpx.get(f"http://{platform.registry}/v2/", timeout=2).status_code == 401
        except httpx.HTTPError:
            up = False
        if up and proc.held_deleted() == (0, 0):
            return
        assert time.monotonic() < deadline, "the registry did not give the space back"
        time.sleep(0.5)


def _mount(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m,mode=0755", "tmpfs", str(target)],
        check=True,
    )


def _unmount(platform: LivePlatform, storage: Path) -> None:
    """Put the real storage back, whatever state a failed assertion left the registry in
    (a registry that still holds files of the volume is stopped first; the platform's
    supervisor starts it again)."""
    if subprocess.run(["umount", str(storage)], check=False).returncode == 0:
        return
    RegistryProcess(platform.data / "registry", 0, "").stop()
    deadline = time.monotonic() + 30
    while subprocess.run(["umount", str(storage)], check=False).returncode != 0:
        if time.monotonic() > deadline:
            subprocess.run(["umount", "-l", str(storage)], check=True)
            return
        time.sleep(0.5)


def test_push_onto_a_full_registry_disk(platform: LivePlatform) -> None:
    storage = platform.data / "registry" / "data"
    app = platform.create_app("diskfull")
    _mount(storage)
    try:
        filler = storage / "filler"
        with filler.open("wb") as fh:  # leave about 60 MB: the stack layer needs ~140
            fh.truncate(0)
            chunk = b"\0" * (1 << 20)
            for _ in range(SIZE_MB - 60):
                fh.write(chunk)
        before = _used(storage)
        started = time.monotonic()
        failed = platform.moor("container:push", "web", "-a", app, cwd=TINY, check=False)
        assert failed.returncode != 0
        message = failed.stderr
        assert "Traceback" not in message
        assert "The registry's disk is full" in message, message
        assert "no space left on device" in message, message
        assert "push again" in message
        logs = platform.moor("logs", "-n", "200", "-a", app).stdout
        assert "The registry's disk is full" in logs, logs
        deadline = time.monotonic() + 60
        while _used(storage) > before + (1 << 20):
            assert time.monotonic() < deadline, (
                f"{(_used(storage) - before) >> 20} MiB of the failed push still on disk: "
                + "\n".join(str(p) for p in storage.rglob("*") if p.is_file())
            )
            time.sleep(0.5)
        _registry_settled(platform)
        reclaimed = time.monotonic() - started
        # nearly full before a push begins: refused at once, with the reason
        with filler.open("ab") as fh:
            for _ in range(45):
                fh.write(chunk)
        refused = platform.moor("container:push", "web", "-a", app, cwd=TINY, check=False)
        assert refused.returncode != 0
        assert "The registry's disk is full" in refused.stderr, refused.stderr
        filler.unlink()
        _registry_settled(platform)
        platform.moor("container:push", "web", "-a", app, cwd=TINY)
        platform.moor("container:release", "web", "-a", app, cwd=TINY)
        platform.wait_for(app, "tiny v1")
        platform.moor("apps:destroy", "-a", app, "--confirm", app)
        platform.apps.discard(app)
    finally:
        _unmount(platform, storage)
    assert shutil.disk_usage(storage).total > SIZE_MB << 20  # the real storage is back
    record(
        "registry disk full during a push",
        tried="a 140 MB image pushed with 60 MB free, again with 15 MB free, then with room",
        failures=0,
        recovery=f"clear error; partial upload gone {reclaimed:.1f} s after the push began; "
        "the second push and its release worked",
        command="pytest tests/faults/test_disk_full.py",
    )


def test_an_image_bigger_than_the_registrys_free_space_is_not_released(
    platform: LivePlatform, standin: StandIn
) -> None:
    """Issue 17: `container:release --image` of an image that does not fit in the room the
    registry has left: a clear error before anything is copied, no release, nothing written."""
    storage = platform.data / "registry" / "data"
    app = platform.create_app("toobig")
    standin.publish("ghcr.io/acme/toobig:1", greeting="too big")  # the stack: ~100 MB packed
    _mount(storage)
    try:
        with (storage / "filler").open("wb") as fh:  # leave 60 MB
            for _ in range(SIZE_MB - 60):
                fh.write(b"\0" * (1 << 20))
        before = _used(storage)
        refused = platform.moor(
            "container:release", "web", "--image", "ghcr.io/acme/toobig:1", "-a", app, check=False
        )
        assert refused.returncode != 0
        assert "The registry's disk has" in refused.stderr, refused.stderr
        assert "Nothing was released" in refused.stderr and "Traceback" not in refused.stderr
        assert platform.json("releases", "-a", app) == []
        assert _used(storage) <= before + (1 << 20)  # nothing was copied
    finally:
        _unmount(platform, storage)
    platform.moor("apps:destroy", "-a", app, "--confirm", app)
    platform.apps.discard(app)
