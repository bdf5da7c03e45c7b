"""Release latency: `moor container:release` until the new release answers through the router.

Run with the project's venv against a running platform (credentials from `moor login`)::

    .venv/bin/python bench/release_latency.py [--runs 3] [--timeout 180]

It creates its own app ``bench-rel-<random>`` (PostgreSQL add-on, ``ps:port web 5000``),
pushes and releases the examples/actors image once, then ``--runs`` times:

* makes a new image that differs from the pushed one only by a label
  (``bench.nonce=<n>``: a container created from the image, committed with that label)
  and pushes it to the app's repository with docker-py;
* **baseline**: ``docker run -d`` that image on a fresh bridge network with ``PORT=5000`` and
  the app's ``DATABASE_URL``; seconds from the start of ``docker run`` to the first HTTP 200
  on ``<container ip>:5000``;
* **platform**: seconds from the start of ``moor container:release web -a APP`` to the first
  HTTP 200 through the router (``Host: APP.<domain>``) once the new release is marked
  ``succeeded`` (the reconciler switches the router to the new dyno before it marks the
  release so), checked afterwards with ``moor ps --json``.

It prints per-run and median numbers, the overhead (platform - baseline) and the ratio, plus
a breakdown of where the platform time goes. Everything it creates (app, baseline
containers, network, committed images) is removed at the end, also on failure or Ctrl-C.
Exit status: 0 when the measurements ran, 1 on a setup or measurement error.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx

from moorage.client import releases as rel_api
from moorage.client.account import info as platform_info
from moorage.client.api import Client
from moorage.client.credentials import load as load_credentials

REPO_ROOT = Path(__file__).resolve().parent.parent
MOOR = str(REPO_ROOT / ".venv" / "bin" / "moor")
CONTEXT = REPO_ROOT / "examples" / "actors"
APP_PORT = 5000
POLL = 0.05  # seconds between probes (HTTP and release status)
PROBE_TIMEOUT = 1.0  # per probe while waiting for the first 200
CLIENT_TIMEOUT = 10.0  # per request of the background prober (a patient client)
DRAIN_WATCH = 2.0  # seconds the prober keeps going after the first 200 (old dyno stops)


class BenchError(Exception):
    """A setup or measurement step failed; the message says which."""


@dataclass
class Run:
    n: int
    baseline: float = 0.0
    platform: float = 0.0
    cli: float = 0.0  # `moor container:release` exited
    created: float = 0.0  # the new dyno's container was created (docker's clock)
    started: float = 0.0  # ... and started
    succeeded: float = 0.0  # the bench saw the release `succeeded` in the API
    version: int = 0
    misses: list[str] = field(default_factory=list)  # non-200s after `succeeded`
    availability: str = ""  # the background prober's errors/requests during the release

    @property
    def overhead(self) -> float:
        return self.platform - self.baseline

    @property
    def ratio(self) -> float:
        return self.platform / self.baseline if self.baseline else float("nan")


@dataclass
class Bench:
    app: str
    timeout: float
    api: Client
    token: str
    registry: str
    router_url: str
    host: str
    d: docker.DockerClient
    base_net: str
    created_app: bool = False
    images: list[str] = field(default_factory=list)  # oldest first
    containers: list[str] = field(default_factory=list)
    network_id: str | None = None

    @property
    def repo(self) -> str:
        return f"{self.registry}/{self.app}/web"


# -- helpers ----------------------------------------------------------------------------------
def moor(*args: str, timeout: float = 900.0, quiet: bool = True) -> str:
    """Run `moor ARGS`; its stdout, or BenchError with its stderr."""
    try:
        proc = subprocess.run(
            [MOOR, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"`moor {' '.join(args)}` did not finish within {timeout:.0f}s") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise BenchError(f"`moor {' '.join(args)}` failed: " + " | ".join(tail))
    if not quiet:
        print(f"  moor {' '.join(args)}: ok", flush=True)
    return proc.stdout


def probe(http: httpx.Client, url: str) -> str:
    """One GET on a new connection: "200", "HTTP <code>" or the exception's name."""
    try:
        resp = http.get(url, headers={"Connection": "close"})
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return "200" if resp.status_code == 200 else f"HTTP {resp.status_code}"


def first_200(
    url: str, deadline: float, host: str | None = None, misses: list[str] | None = None
) -> float:
    """Probe ``url`` until it answers 200; the monotonic time of that answer.

    Each probe may take up to PROBE_TIMEOUT; the app answers in ~10 ms once it is up.
    Non-200 outcomes are appended to ``misses``.
    """
    last = "no answer"
    with httpx.Client(timeout=PROBE_TIMEOUT, headers={"Host": host} if host else {}) as http:
        while time.monotonic() < deadline:
            last = probe(http, url)
            if last == "200":
                return time.monotonic()
            if misses is not None:
                misses.append(last)
            time.sleep(POLL)
    raise BenchError(f"{url} (Host {host or '-'}) gave no 200 in time; last: {last}")


class Prober(threading.Thread):
    """Requests through the router, one after another, for as long as a release runs.

    What a client of the app sees during the rollout: every answer that is not a 200
    (the previous release keeps serving until the switch, so there should be none).
    """

    def __init__(self, url: str, host: str) -> None:
        super().__init__(daemon=True)
        self.url, self.host = url, host
        self.stop = threading.Event()
        self.total = 0
        self.errors: list[str] = []

    def run(self) -> None:
        with httpx.Client(timeout=CLIENT_TIMEOUT, headers={"Host": self.host}) as http:
            while not self.stop.is_set():
                outcome = probe(http, self.url)
                self.total += 1
                if outcome != "200":
                    self.errors.append(outcome)
                self.stop.wait(POLL)

    def summary(self) -> str:
        kinds = Counter(self.errors)
        detail = ", ".join(f"{n}x {k}" for k, n in kinds.most_common())
        return f"{len(self.errors)}/{self.total}" + (f" ({detail})" if detail else "")


def docker_time(stamp: str) -> float:
    """Docker's RFC 3339 nanosecond timestamps as epoch seconds."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    whole = datetime.fromisoformat(head + "+00:00").timestamp()
    return whole + (float("0." + frac) if frac else 0.0)


def push(b: Bench) -> None:
    auth = {"username": "_", "password": b.token}
    for chunk in b.d.images.push(b.repo, tag="latest", auth_config=auth, stream=True, decode=True):
        if "error" in chunk:
            raise BenchError(f"push of {b.repo}:latest failed: {chunk['error']}")


def new_image(b: Bench, base_id: str, nonce: str) -> str:
    """``base_id`` plus LABEL bench.nonce=<nonce>, tagged <repo>:latest and pushed."""
    c = b.d.containers.create(base_id)
    try:
        image = c.commit(repository=b.repo, tag="latest", changes=[f"LABEL bench.nonce={nonce}"])
    finally:
        c.remove(force=True)
    b.images.append(str(image.id))
    push(b)
    return str(image.id)


def release_versions(b: Bench) -> dict[int, str]:
    return {r.version: str(r.status) for r in rel_api.releases(b.api, b.app)}


# -- the two measurements ---------------------------------------------------------------------
def baseline(b: Bench, image_id: str, database_url: str, n: int) -> float:
    name = f"{b.app}-baseline-{n}"
    t0 = time.monotonic()
    c = b.d.containers.run(
        image_id,
        detach=True,
        name=name,
        network=b.base_net,
        environment={"PORT": str(APP_PORT), "DATABASE_URL": database_url},
    )
    b.containers.append(c.id)
    try:
        c.reload()
        ip = c.attrs["NetworkSettings"]["Networks"][b.base_net]["IPAddress"]
        if not ip:
            raise BenchError(f"baseline container {name} has no IP on {b.base_net}")
        t1 = first_200(f"http://{ip}:{APP_PORT}/", t0 + b.timeout)
    finally:
        c.remove(force=True)
        b.containers.remove(c.id)
    return t1 - t0


def platform(b: Bench, run: Run) -> None:
    before = max(release_versions(b), default=0)
    cli_done: dict[str, Any] = {}

    def release() -> None:
        try:
            cli_done["out"] = moor("container:release", "web", "-a", b.app, timeout=b.timeout)
        except BenchError as exc:
            cli_done["error"] = str(exc)
        cli_done["at"] = time.monotonic()

    prober = Prober(b.router_url, b.host)
    prober.start()
    time.sleep(0.2)  # the prober's first requests: the old release answers
    try:
        wall0, t0 = time.time(), time.monotonic()
        worker = threading.Thread(target=release, daemon=True)
        worker.start()
        deadline = t0 + b.timeout
        version, status = 0, "pending"
        while time.monotonic() < deadline:
            versions = release_versions(b)
            newer = [v for v in versions if v > before]
            if newer:
                version = max(newer)
                status = versions[version]
                if status != "pending":
                    break
            if "error" in cli_done:
                raise BenchError(cli_done["error"])
            time.sleep(POLL)
        if status != "succeeded":
            reason = rel_api.release(b.api, b.app, str(version)).status_reason if version else ""
            raise BenchError(f"release v{version or '?'} of {b.app} ended {status!r}: {reason}")
        run.succeeded = time.monotonic() - t0
        run.version = version
        run.platform = first_200(b.router_url, deadline, host=b.host, misses=run.misses) - t0
        worker.join(max(0.0, deadline - time.monotonic()))
        if "at" not in cli_done:
            raise BenchError("`moor container:release` did not return in time")
        if "error" in cli_done:
            raise BenchError(cli_done["error"])
        run.cli = cli_done["at"] - t0
        time.sleep(max(0.0, t0 + run.platform + DRAIN_WATCH - time.monotonic()))
    finally:
        prober.stop.set()
        prober.join(CLIENT_TIMEOUT + 1)
    run.availability = prober.summary()
    dynos = json.loads(moor("ps", "-a", b.app, "--json"))
    web = [d for d in dynos if d["name"] == "web.1" or d["name"].endswith(".web.1")]
    if not web or web[0]["release"]["version"] != version or web[0]["state"] != "up":
        raise BenchError(f"after v{version}, `moor ps` shows {dynos}")
    attrs = b.d.containers.get(web[0]["id"]).attrs
    run.created = docker_time(attrs["Created"]) - wall0
    run.started = docker_time(attrs["State"]["StartedAt"]) - wall0


# -- setup / teardown -------------------------------------------------------------------------
def setup(b: Bench) -> tuple[str, str, float]:
    """The app, its add-on, port and first release; (base image id, DATABASE_URL, seconds)."""
    print(f"Setting up {b.app} ...", flush=True)
    moor("apps:create", b.app, quiet=False)
    b.created_app = True
    moor("addons:create", "postgresql", "-a", b.app, quiet=False)
    moor("ps:port", "web", str(APP_PORT), "-a", b.app, quiet=False)
    moor("container:login", quiet=False)
    moor("container:push", "web", "-a", b.app, "--context", str(CONTEXT), quiet=False)
    base_id = str(b.d.images.get(f"{b.repo}:latest").id)
    b.images.append(base_id)
    t0 = time.monotonic()
    moor("container:release", "web", "-a", b.app, timeout=b.timeout, quiet=False)
    first = first_200(b.router_url, t0 + b.timeout, host=b.host) - t0
    database_url = moor("config:get", "DATABASE_URL", "-a", b.app).strip()
    if not database_url:
        raise BenchError(f"{b.app} has no DATABASE_URL after addons:create")
    net = b.d.networks.create(b.base_net, driver="bridge")
    b.network_id = net.id
    return base_id, database_url, first


def own_refs(b: Bench, image: Any) -> tuple[list[str], list[str]]:
    """The image's tags and digests under the bench app's repository, and the others."""
    refs = list(image.tags) + list(image.attrs.get("RepoDigests") or [])
    mine = [r for r in refs if r.startswith(f"{b.repo}:") or r.startswith(f"{b.repo}@")]
    return mine, [r for r in refs if r not in mine]


def detach_shared(b: Bench) -> None:
    """Untag the app's references from images that other repositories share.

    A build of examples/actors is usually the very image (same id) the `actors` app runs.
    Before commit 18f485a, apps:destroy removed every image with a reference under the
    app's repository *by id, with force*, which takes the other app's tags with it (or
    fails on the image of a running dyno); so leave it only the images that are the
    bench's alone (harmless with a server that only untags).
    """
    for image in b.d.images.list():
        mine, others = own_refs(b, image)
        if mine and others:
            for ref in mine:
                b.d.images.remove(ref)


def remove_image(b: Bench, image_id: str) -> None:
    try:
        image = b.d.images.get(image_id)
    except docker.errors.ImageNotFound:
        return
    mine, others = own_refs(b, image)
    if others:  # shared with another repository: only drop the bench's references
        for ref in mine:
            b.d.images.remove(ref)
    else:
        b.d.images.remove(image_id, force=True)


def cleanup(b: Bench) -> list[str]:
    """Remove what the bench created; the problems met (it keeps going past them)."""
    problems: list[str] = []
    for cid in list(b.containers):
        try:
            b.d.containers.get(cid).remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as exc:
            problems.append(f"baseline container {cid[:12]}: {exc}")
    if b.network_id:
        try:
            b.d.networks.get(b.network_id).remove()
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as exc:
            problems.append(f"network {b.base_net}: {exc}")
    if b.created_app:
        try:
            detach_shared(b)
        except docker.errors.DockerException as exc:
            problems.append(f"untagging shared images: {exc}")
        try:
            moor("apps:destroy", "-a", b.app, "--confirm", b.app, timeout=120)
        except BenchError as exc:
            problems.append(str(exc))
        # The reconciler removes the dynos (draining ones too) and network asynchronously.
        flt = {"label": f"moorage.app={b.app}"}
        deadline = time.monotonic() + 90
        while True:
            left = [c.name for c in b.d.containers.list(all=True, filters=flt)]
            nets = [n.name for n in b.d.networks.list(filters=flt)]
            if not left and not nets:
                break
            if time.monotonic() > deadline:
                problems.append(f"still there 90 s after apps:destroy: {left} {nets}")
                break
            time.sleep(1)
    for image_id in reversed(b.images):  # children (committed) before their parent
        try:
            remove_image(b, image_id)
        except docker.errors.DockerException as exc:
            problems.append(f"image {image_id[:19]}: {exc}")
    return problems


# -- report -----------------------------------------------------------------------------------
def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def report(runs: list[Run], first: float) -> str:
    def row(label: str, vals: list[float]) -> list[str]:
        return [label, *(f"{v:.2f}" for v in vals[:-1]), f"{vals[-1]:.2f}x"]

    med = statistics.median
    rows = [row(str(r.n), [r.platform, r.baseline, r.overhead, r.ratio]) for r in runs]
    rows.append(
        row(
            "median",
            [
                med(r.platform for r in runs),
                med(r.baseline for r in runs),
                med(r.overhead for r in runs),
                med(r.ratio for r in runs),
            ],
        )
    )
    main = table(["run", "platform s", "baseline s", "overhead s", "ratio"], rows)
    parts = [
        [
            str(r.n),
            f"v{r.version}",
            f"{r.created:.2f}",
            f"{r.started:.2f}",
            f"{r.succeeded:.2f}",
            f"{r.platform:.2f}",
            f"{r.cli:.2f}",
        ]
        for r in runs
    ]
    detail = table(
        [
            "run",
            "release",
            "dyno created",
            "dyno started",
            "seen succeeded",
            "first 200",
            "CLI returned",
        ],
        parts,
    )

    def misses(r: Run) -> str:
        kinds = Counter(r.misses)
        return ", ".join(f"{n}x {k}" for k, n in kinds.most_common()) or "none"

    errors = "\n".join(
        f"  run {r.n}: after `succeeded`, before the first 200: {misses(r)}\n"
        f"         background client, failed/requests: {r.availability}"
        for r in runs
    )
    return (
        "Release latency: `moor container:release` -> first 200 through the router from the "
        "new release\n(platform), vs. `docker run` -> first 200 of the same image "
        "(baseline)\n\n"
        f"{main}\n\n"
        "Where the platform time goes (seconds after `moor container:release` started):\n\n"
        f"{detail}\n\n"
        "Non-200 answers through the router during the rollout (every probe on a new "
        "connection, 50 ms\napart; the first-200 probe times out after "
        f"{PROBE_TIMEOUT:.0f} s, the background client after {CLIENT_TIMEOUT:.0f} s and runs "
        f"from\n0.2 s before the release to {DRAIN_WATCH:.0f} s after the first 200):\n"
        f"{errors}\n\n"
        f"First release of the app (no previous dyno, not in the table): {first:.2f} s"
    )


# -- main -------------------------------------------------------------------------------------
def connect() -> tuple[Any, Client, dict[str, Any], docker.DockerClient]:
    """Credentials of `moor login`, an API client, the platform's info, Docker Engine."""
    creds = load_credentials()
    if not creds.token:
        raise BenchError("no API token: run `moor login` first")
    api = Client(creds, timeout=30.0)
    info = platform_info(api).model_dump(mode="json")
    d = docker.from_env(timeout=300)
    d.ping()
    return creds, api, info, d


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="measured releases (default 3)")
    ap.add_argument(
        "--timeout", type=float, default=180.0, help="seconds allowed per step (default 180)"
    )
    ap.add_argument(
        "--check-path",
        default=None,
        help="readiness check path for web (`moor ps:check web --path`); default: TCP bind",
    )
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        creds, api, info, d = connect()
    except Exception as exc:
        print(f"setup error: {exc}", file=sys.stderr)
        return 1
    port = int(info.get("router_port", 7080))
    app = f"bench-rel-{secrets.token_hex(3)}"
    b = Bench(
        app=app,
        timeout=args.timeout,
        api=api,
        token=creds.token,
        registry=info["registry"],
        router_url=f"http://127.0.0.1:{port}/",
        host=f"{app}.{info.get('domain', 'moorage.localhost')}",
        d=d,
        base_net=f"{app}-baseline",
    )
    code = 0
    load_start = load()
    try:
        base_id, database_url, first = setup(b)
        if args.check_path:
            moor("ps:check", "web", "--path", args.check_path, "-a", b.app, quiet=False)
        print(f"First release answered through the router after {first:.2f} s", flush=True)
        runs: list[Run] = []
        for n in range(1, args.runs + 1):
            run = Run(n)
            image_id = new_image(b, base_id, f"{n}-{secrets.token_hex(4)}")
            run.baseline = baseline(b, image_id, database_url, n)
            platform(b, run)
            print(
                f"run {n}: platform {run.platform:.2f} s, baseline {run.baseline:.2f} s",
                flush=True,
            )
            runs.append(run)
        print()
        print(report(runs, first))
        print(f"\nAt the start: {load_start}; at the end: {load()}")
    except (BenchError, docker.errors.DockerException, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        code = 130
    except Exception as exc:  # the platform's own errors (moorage.errors.*) and the like
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    finally:
        print(f"\nCleaning up {b.app} ...", flush=True)
        problems = cleanup(b)
        for p in problems:
            print(f"cleanup problem: {p}", file=sys.stderr)
        if problems and code == 0:
            code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
