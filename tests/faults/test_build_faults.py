"""``git push`` builds that must be stopped: over the time limit while printing nothing, over
the memory limit, cancelled (``builds:cancel``), superseded by a newer push of the app; and
one build at a time, the next push waiting in line. Each on the real platform, restarted for
this module with a short time limit and a small memory limit (``MOORAGE_BUILD_TIMEOUT``,
``MOORAGE_BUILD_MEMORY``), and each checks that nothing of a stopped build keeps running."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.integration.test_git_push import _commit, _git, _push, _releases, _remote, _token
from tests.livefixtures import LivePlatform

pytestmark = pytest.mark.integration
TIMEOUT = 30  # seconds: MOORAGE_BUILD_TIMEOUT of this module's platform
MEMORY = "96m"
TINY = """FROM python:3
WORKDIR /srv
RUN echo "{text}" > /srv/index.html
CMD ["sh", "-c", "exec python3 -m http.server \\"$PORT\\""]
"""


@pytest.fixture(scope="module")
def limited(platform: LivePlatform) -> Iterator[LivePlatform]:
    """The shared platform, its server restarted with this module's build limits (and
    restarted with its own settings again after)."""
    saved = dict(platform.env)
    platform.kill_server()
    platform.env.update({"MOORAGE_BUILD_TIMEOUT": str(TIMEOUT), "MOORAGE_BUILD_MEMORY": MEMORY})
    platform.start_server()
    try:
        yield platform
    finally:
        platform.kill_server()
        platform.env.clear()
        platform.env.update(saved)
        platform.start_server()


class Push:
    """A ``git push`` running in the background; ``err`` is what it printed so far."""

    def __init__(self, platform: LivePlatform, app: str, repo: Path, ref: str = "HEAD:main"):
        env = {"PATH": "/usr/bin:/bin", "HOME": str(repo), "GIT_TERMINAL_PROMPT": "0"}
        self.proc = subprocess.Popen(
            ["git", "push", _remote(platform, app, _token(platform)), ref],
            cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.err = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err += line

    def wait_for(self, *texts: str, timeout: float = 60) -> None:
        """Until the push printed every text, in this order."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            at = 0
            for text in texts:
                at = self.err.find(text, at)
                if at < 0:
                    break
            else:
                return
            time.sleep(0.2)
        raise AssertionError(f"the push never printed {texts}:\n{self.err}")

    def end(self, timeout: float = 120) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(10)
        return code


def _repo(path: Path, dockerfile: str) -> Path:
    (path / "Dockerfile").write_text(dockerfile)
    _git(path, "init", "-q", "-b", "main")
    _commit(path, "first")
    return path


def _sleeping(text: str, seconds: int) -> str:
    return TINY.format(text=text) + f"RUN sleep {seconds}\n"


def _nothing_left(seconds: int) -> None:
    """No container and no process of the build step ``sleep <seconds>`` is left."""
    marker = f"sleep {seconds}"
    deadline = time.monotonic() + 15
    while True:
        containers = [
            c.id
            for c in docker.from_env().containers.list(all=True, ignore_removed=True)
            if marker in " ".join(c.attrs["Config"].get("Cmd") or [])
        ]
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
        processes = [p for p in ps.stdout.splitlines() if p.strip() == marker]
        if not containers and not processes:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"left running: containers {containers}, {processes}")
        time.sleep(0.5)


def _unique_seconds() -> int:
    return 100000 + int.from_bytes(os.urandom(2), "big")


def test_silent_step_over_the_time_limit_is_stopped(limited: LivePlatform, tmp_path: Path) -> None:
    app = limited.create_app("bltime")
    text = f"limits {os.urandom(3).hex()}"
    repo = _repo(tmp_path, TINY.format(text=text))
    first = _push(limited, app, repo, _token(limited))
    assert first.returncode == 0, first.stderr
    limited.wait_for(app, text)
    before = _releases(limited, app)
    seconds = _unique_seconds()
    (repo / "Dockerfile").write_text(_sleeping(text, seconds))
    _commit(repo, "sleeps")
    started = time.monotonic()
    done = _push(limited, app, repo, _token(limited))
    took = time.monotonic() - started
    assert done.returncode != 0
    assert f"exceeded its time limit of {TIMEOUT}s and was stopped at Step" in done.stderr
    assert f"RUN sleep {seconds}" in done.stderr and "remote: Push rejected" in done.stderr
    assert took < TIMEOUT + 45, took
    assert _releases(limited, app) == before
    limited.wait_for(app, text, timeout=10)
    _nothing_left(seconds)
    assert [b["status"] for b in limited.json("builds", "-a", app)] == ["failed", "succeeded"]


def test_step_over_the_memory_limit_fails_naming_it(limited: LivePlatform, tmp_path: Path) -> None:
    app = limited.create_app("blmem")
    hog = 'RUN python3 -c "b = bytearray(400 << 20); print(len(b))"\n'
    repo = _repo(tmp_path, TINY.format(text="never") + hog)
    done = _push(limited, app, repo, _token(limited))
    assert done.returncode != 0
    assert "ran out of memory at Step" in done.stderr
    assert "the build memory limit of 96 MiB" in done.stderr
    assert _releases(limited, app) == []


def test_cancel_a_running_build_and_the_next_one_waits_for_it(
    limited: LivePlatform, tmp_path: Path
) -> None:
    slow, quick = limited.create_app("blslow"), limited.create_app("blquick")
    seconds, text = _unique_seconds(), f"quick {os.urandom(3).hex()}"
    (tmp_path / "slow").mkdir()
    (tmp_path / "quick").mkdir()
    first = Push(limited, slow, _repo(tmp_path / "slow", _sleeping("slow", seconds)))
    first.wait_for(f"RUN sleep {seconds}", "Running in")
    second = Push(limited, quick, _repo(tmp_path / "quick", TINY.format(text=text)))
    second.wait_for("remote: Waiting for 1 build(s) ahead of this one")
    assert "=== Building" not in second.err
    cancelled = limited.moor("builds:cancel", "-a", slow)
    assert "failed" in cancelled.stdout and "Build cancelled by" in cancelled.stdout
    assert first.end() != 0
    assert "remote: Build cancelled by admin@example.test" in first.err
    assert "remote: Push rejected: build cancelled by" in first.err
    assert second.end() == 0, second.err
    limited.wait_for(quick, text)
    assert _releases(limited, slow) == []
    [build] = limited.json("builds", "-a", slow)
    assert build["status"] == "failed" and build["message"].startswith("Build cancelled by")
    _nothing_left(seconds)
    again = limited.moor("builds:cancel", "-a", slow, check=False)
    assert again.returncode != 0 and "nothing to cancel" in again.stderr


def test_a_newer_push_supersedes_the_running_build(limited: LivePlatform, tmp_path: Path) -> None:
    app = limited.create_app("blforce")
    seconds, text = _unique_seconds(), f"newer {os.urandom(3).hex()}"
    repo = _repo(tmp_path, _sleeping("older", seconds))
    older = Push(limited, app, repo)
    older.wait_for(f"RUN sleep {seconds}", "Running in")
    (repo / "Dockerfile").write_text(TINY.format(text=text))
    _git(repo, "commit", "-q", "-a", "--amend", "-m", "newer")
    newer = _push(limited, app, repo, _token(limited))
    assert newer.returncode == 0, newer.stderr
    assert older.end() != 0
    assert "remote: Build cancelled: a newer push of" in older.err
    assert "superseded it" in older.err and "remote: Push rejected" in older.err
    limited.wait_for(app, text)
    # newest first, though both builds may start within the same second
    statuses = [b["status"] for b in limited.json("builds", "-a", app)]
    assert statuses == ["succeeded", "failed"]
    assert len(_releases(limited, app)) == 1
    _nothing_left(seconds)


def test_a_push_of_another_branch_is_refused_and_stores_nothing(
    limited: LivePlatform, tmp_path: Path
) -> None:
    app = limited.create_app("blbranch")
    repo = _repo(tmp_path, TINY.format(text="feature"))
    done = _push(limited, app, repo, _token(limited), branch="feature")
    assert done.returncode != 0
    assert "remote: Push refused: refs/heads/feature is not a deploy branch" in done.stderr
    assert "main or master" in done.stderr
    listed = _git(repo, "ls-remote", _remote(limited, app, _token(limited)))
    assert listed.stdout.strip() == ""
    assert _releases(limited, app) == [] and limited.json("builds", "-a", app) == []
