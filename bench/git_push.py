"""`git push` deploys against `moor container:push` + `container:release`, to the first 200.

Run as root from the repository root (it needs Docker and starts the platform it uses)::

    .venv/bin/python bench/git_push.py [--rounds 4]

Like ``swarm_scale.py`` it starts a throwaway platform with the test suite's helper
(``tests.livefixtures.live_platform``; this checkout's ``src`` is the server's code) and
deploys examples/actors as ``bench-git-<random>`` (PostgreSQL add-on, ``ps:port web 5000``)
from a git repository holding its Dockerfile, myapp.py, requirements.txt and a heroku.yml
naming the Dockerfile for web. One untimed deploy by each method fills the engine's layer
cache (the ``pip install`` layer), then ``--rounds`` rounds, each deploying by both methods
(git first in rounds 1, 3, ..., container first in rounds 2, 4, ...). Before each deploy
the heading of myapp.py's page becomes a new one (a one-line change, committed untimed), so
every deploy builds and releases something new; the time is from the start of the first
command to the first HTTP 200 through the router (``Host: APP.<domain>``) whose page has
the new heading:

* **git**: ``git push <remote> HEAD:main`` to the API's ``/git/APP.git`` (the token in the
  URL, as Basic auth), which builds, pushes and releases on the platform;
* **container**: ``moor container:push web -a APP`` then ``moor container:release web -a
  APP`` in the same folder, on the same engine and registry.

Phases come from the time each output line arrived: for git, until ``=== Building`` (pack
upload, ``git archive``, the tar to the API, unpack), until ``=== Pushing`` (build), until
``=== Releasing`` (the push to the registry), then to the first 200 (release and router);
for container, until ``=== Pushing`` (CLI start, context upload and build), until
``container:push`` exits (registry push), then to the first 200 (``container:release``).

It prints every round, then median, min and max per method, the median phases and the ratio
git/container of the medians (the goal: at most 1.1x). Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("VIRTUAL_ENV", sys.prefix)  # the moor of this venv
os.environ["PYTHONPATH"] = os.pathsep.join(  # the server runs this checkout's code
    p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p
)

from tests.livefixtures import ACTORS, MOOR, LivePlatform, live_platform  # noqa: E402

HEROKU_YML = "build:\n  docker:\n    web: Dockerfile\n"
HEADING = "<h1>Actors</h1>"
GOAL = 1.1
METHODS = ("git", "container")
PHASES = {
    "git": ("upload", "build", "registry push", "release"),
    "container": ("build", "registry push", "release"),
}


@dataclass
class Sample:
    total: float
    phases: dict[str, float] = field(default_factory=dict)


@dataclass
class Lines:
    """A command's output lines with the monotonic time each arrived."""

    code: int = 0
    ended: float = 0.0
    lines: list[tuple[float, str]] = field(default_factory=list)

    def first(self, text: str) -> float:
        for at, line in self.lines:
            if text in line:
                return at
        raise SystemExit(f"no line with {text!r} in:\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(line for _, line in self.lines[-30:])


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> Lines:
    """Run ``argv`` with stdout and stderr merged, noting when each line (or \\r-ended
    progress line) arrived; exits the bench when it fails."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)  # fmt: skip
    assert proc.stdout is not None
    out, pending = Lines(), b""
    while chunk := os.read(proc.stdout.fileno(), 65536):
        now = time.monotonic()
        pending += chunk.replace(b"\r", b"\n")
        *complete, pending = pending.split(b"\n")
        out.lines += [(now, raw.decode(errors="replace")) for raw in complete if raw.strip()]
    out.code, out.ended = proc.wait(), time.monotonic()
    if pending.strip():
        out.lines.append((out.ended, pending.decode(errors="replace")))
    if out.code != 0:
        raise SystemExit(f"{' '.join(argv[:3])} exited {out.code}:\n{out.tail()}")
    return out


class Watch:
    """Polls the router from now on until a 200 whose page has ``text``; ``wait()`` is the
    monotonic time of that answer."""

    def __init__(self, p: LivePlatform, app: str, text: str, timeout: float = 900) -> None:
        self.url = f"http://127.0.0.1:{p.router_port}/"
        self.host, self.text = f"{app}.{p.domain}", text
        self.deadline, self.seen = time.monotonic() + timeout, 0.0
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        headers = {"Host": self.host, "Connection": "close"}
        while time.monotonic() < self.deadline:
            try:
                resp = httpx.get(self.url, headers=headers, timeout=1)
                if resp.status_code == 200 and self.text in resp.text:
                    self.seen = time.monotonic()
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)

    def wait(self) -> float:
        self._thread.join()
        if not self.seen:
            raise SystemExit(f"the router never served {self.text!r}")
        return self.seen


class Bench:
    def __init__(self, p: LivePlatform, repo: Path) -> None:
        self.p, self.repo = p, repo
        self.app = p.create_app("bench-git")
        token = json.loads((p.data / "credentials.json").read_text())["token"]
        self.remote = f"{p.api.replace('http://', f'http://_:{token}@')}/git/{self.app}.git"
        self.git_env = {"PATH": "/usr/bin:/bin", "HOME": str(repo), "GIT_TERMINAL_PROMPT": "0"}
        self.source = (ACTORS / "myapp.py").read_text()
        self.count = 0

    def git(self, *args: str) -> Lines:
        argv = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.test", *args]
        return run(argv, self.repo, self.git_env)

    def setup(self) -> None:
        self.p.moor("addons:create", "postgresql", "-a", self.app)
        self.p.moor("ps:port", "web", "5000", "-a", self.app)
        for name in ("Dockerfile", "myapp.py", "requirements.txt"):
            shutil.copy(ACTORS / name, self.repo / name)
        (self.repo / "heroku.yml").write_text(HEROKU_YML)
        self.git("init", "-q", "-b", "main")
        for method in METHODS:  # untimed: fills the layer cache of both
            took = self.deploy(method)
            print(f"  warm-up {method}: {took.total:.1f} s", flush=True)

    def change(self, method: str) -> str:
        """A new heading in myapp.py (one line), committed."""
        self.count += 1
        heading = f"Actors {method} {self.count} {os.urandom(3).hex()}"
        (self.repo / "myapp.py").write_text(self.source.replace(HEADING, f"<h1>{heading}</h1>"))
        self.git("add", "-A")
        self.git("commit", "-q", "-m", heading)
        return heading

    def deploy(self, method: str) -> Sample:
        heading = self.change(method)
        start = time.monotonic()
        watch = Watch(self.p, self.app, heading)
        if method == "git":
            out = self.git("push", self.remote, "HEAD:main")
            seen = watch.wait()
            marks = [out.first("=== Building"), out.first("=== Pushing"),
                     out.first("=== Releasing"), seen]  # fmt: skip
        else:
            pushed = run([MOOR, "container:push", "web", "-a", self.app], self.repo, self.p.env)
            run([MOOR, "container:release", "web", "-a", self.app], self.repo, self.p.env)
            seen = watch.wait()
            marks = [pushed.first("=== Pushing"), pushed.ended, seen]
        edges = [start, *marks]
        spans = [b - a for a, b in itertools.pairwise(edges)]
        return Sample(seen - start, dict(zip(PHASES[method], spans, strict=True)))


def table(results: dict[str, list[Sample]]) -> None:
    print(f"\n{'method':10} {'median s':>8} {'min s':>6} {'max s':>6}   median phases (s)")
    medians = {}
    for method in METHODS:
        totals = [s.total for s in results[method]]
        medians[method] = statistics.median(totals)
        phases = ", ".join(
            f"{name} {statistics.median(s.phases[name] for s in results[method]):.1f}"
            for name in PHASES[method]
        )
        print(
            f"{method:10} {medians[method]:8.1f} {min(totals):6.1f} {max(totals):6.1f}   {phases}"
        )
    ratio = medians["git"] / medians["container"]
    verdict = "meets" if ratio <= GOAL else "misses"
    print(f"\nratio git/container (medians): {ratio:.2f}x ({verdict} the goal of {GOAL}x)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    results: dict[str, list[Sample]] = {m: [] for m in METHODS}
    repo = Path(tempfile.mkdtemp(prefix="moorage-bench-git-"))
    try:
        with live_platform() as p:
            bench = Bench(p, repo)
            bench.setup()
            for n in range(args.rounds):
                for method in METHODS if n % 2 == 0 else METHODS[::-1]:
                    sample = bench.deploy(method)
                    results[method].append(sample)
                    detail = ", ".join(f"{k} {v:.1f}" for k, v in sample.phases.items())
                    print(f"  round {n + 1} {method:9}: {sample.total:5.1f} s ({detail})",
                          flush=True)  # fmt: skip
    finally:
        shutil.rmtree(repo, ignore_errors=True)
    table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
