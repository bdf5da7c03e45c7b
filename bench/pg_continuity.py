"""Fork, rollback, follower and pooler of dedicated PostgreSQL add-ons against the tools alone.

Run as root with the project's venv (Debian PostgreSQL, pgBackRest, pgbench, PgBouncer; no
platform, no ``moor server``)::

    .venv/bin/python bench/pg_continuity.py [--size-mb 1024] [--back-seconds 600] [--runs 1]

It builds the engine the API runs (``PostgresProvider`` over ``Clusters`` and an
``Archive``) on a scratch root ``/tmp/moorage-bench-pgc-*`` with its own pgBackRest
repository and ports 27400-27439 (clusters 27400-27419, the baselines' clusters
27420-27429, poolers 27430-27439). The source is ``provision(..., "postgresql:standard-2")``
filled with ``pgbench -i`` to about ``--size-mb`` (as the add-on's login role, so the tables
belong to the add-on), then a fresh full backup so restores start from a backup that holds
the data, then ``--replay-seconds`` of pgbench writes before the rollback target, so the
rollback has WAL to replay. Then, ``--runs`` times each, both sides (the platform first in
even runs, the baseline first in odd ones; an untimed CHECKPOINT of the source before each):

* fork: ``restore_from(new, plan, source, None)`` until the new URL takes a write, against
  ``pgbackrest restore --type=name`` (a restore point made untimed beforehand) + ``pg_ctl
  start -w`` + a write;
* follower: ``follow(...)`` until the follower streams and has replayed the leader's LSN of
  the start, against ``pg_basebackup -X stream -R -c fast`` + ``pg_ctl start -w`` + the
  same wait;
* pooler: ``pgbench -c 50 -j 2 -M simple`` select-only (``-S``) and TPC-B-like without
  branch updates (``-N``) through ``Poolers.attach``'s PgBouncer and direct (tps, ratio);
* rollback: after ``--back-seconds`` (a light pgbench write load meanwhile),
  ``restore_from(new, plan, source, target)`` against ``pgbackrest restore --type=time``
  + start + a write.

Everything it made (clusters, stanzas, poolers, load, the scratch root) is removed at the end,
also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from moorage.addons.ports import port_free
from moorage.addons.postgres import continuity, dedicated
from moorage.addons.postgres.archive import Archive
from moorage.addons.postgres.cluster import Cluster, find_bin_dir
from moorage.addons.postgres.dedicated import Clusters
from moorage.addons.postgres.pooler import Poolers
from moorage.addons.postgres.provider import PostgresProvider
from moorage.errors import ComponentFailed

PLAN = "postgresql:standard-2"
SOURCE = "bench_src"
CLUSTER_PORTS, BASE_PORTS, POOL_PORTS = range(27400, 27420), range(27420, 27430), (27430, 27440)
MB_PER_SCALE = 15
GOAL = 1.2
OWN_BACKUP = "own stanza + first full backup"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# -- timing of the engine's phases (wrappers that only record; behaviour unchanged) ----------
class Phases:
    """Seconds spent in wrapped engine functions during the current measurement."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, attr: str, label: str) -> None:
        original = getattr(owner, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.monotonic()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.monotonic() - start

        setattr(owner, attr, timed)
        self._undo.append(lambda: setattr(owner, attr, original))

    def take(self) -> dict[str, float]:
        out, self.seconds = self.seconds, {}
        return out

    def undo(self) -> None:
        for fn in reversed(self._undo):
            fn()


def install_phases(clusters: Clusters) -> Phases:
    phases = Phases()
    phases.wrap(continuity, "target", "target: restore point/commit, WAL switch, archived")
    phases.wrap(clusters.archive, "restore", "pgbackrest restore")
    phases.wrap(dedicated, "_wait_promoted", "wait promoted (0.5 s polls)")
    phases.wrap(clusters, "_start_archive", OWN_BACKUP)
    phases.wrap(dedicated, "_as_postgres", "pg_basebackup")
    return phases


# -- helpers -----------------------------------------------------------------------------------
def as_postgres(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, **kw
    )


def must(proc: subprocess.CompletedProcess[str], what: str) -> str:
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed: {(proc.stderr or proc.stdout).strip()[-600:]}")
    return proc.stdout


def pgbench(url: str, *args: str, timeout: float | None = None) -> str:
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    proc = subprocess.run(
        ["pgbench", *args, url], capture_output=True, text=True, env=env, timeout=timeout
    )
    return must(proc, f"pgbench {' '.join(args)}")


def tps(output: str) -> float:
    for line in output.splitlines():
        if line.startswith("tps = "):
            return float(line.split()[2])
    raise RuntimeError(f"no tps in pgbench output: {output[-300:]}")


def write_once(connect: Callable[[], psycopg.Connection[Any]], timeout: float = 3600) -> None:
    """Until a connection takes a write (an xid is assigned only outside recovery)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with connect() as conn:
                conn.execute("SELECT pg_current_xact_id()")
                return
        except psycopg.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def url_connect(url: str) -> Callable[[], psycopg.Connection[Any]]:
    return lambda: psycopg.connect(url, autocommit=True, connect_timeout=5)


def free_port(ports: range, used: set[int]) -> int:
    for port in ports:
        if port not in used and port_free(port, ["127.0.0.1"]):
            used.add(port)
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


class Plain:
    """A cluster run by hand (the baselines): a data dir under ``root``, its own port."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.data, self.run = root / "data", root / "run"
        for d in (root, self.data, self.run):
            d.mkdir(mode=0o700)
            shutil.chown(d, "postgres", "postgres")

    def start(self) -> None:
        opts = (
            f"-c port={self.port} -c listen_addresses='' -c unix_socket_directories={self.run}"
            " -c archive_mode=off"
        )
        pg_ctl = str(find_bin_dir() / "pg_ctl")
        argv = [pg_ctl, "start", "-w", "-t", "3600", "-D", str(self.data)]
        argv += ["-l", str(self.root / "postgres.log"), "-o", opts]
        must(as_postgres(argv), "pg_ctl start")

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=str(self.run), port=self.port, user="postgres", dbname="postgres",
            autocommit=True, connect_timeout=5,
        )  # fmt: skip

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            pg_ctl = str(find_bin_dir() / "pg_ctl")
            as_postgres([pg_ctl, "stop", "-m", "immediate", "-D", str(self.data)])
        shutil.rmtree(self.root, ignore_errors=True)


# -- the bench ---------------------------------------------------------------------------------
class Bench:
    def __init__(self, root: Path, args: argparse.Namespace) -> None:
        self.root, self.args = root, args
        self.clusters = Clusters(
            root / "clusters", ["127.0.0.1"], CLUSTER_PORTS, Archive(root / "pgbackrest")
        )
        unused = Cluster(root / "shared", 0, ["127.0.0.1"])  # the mini plans' cluster: unused
        self.provider = PostgresProvider(unused, "127.0.0.1", self.clusters)
        self.poolers = Poolers(root / "poolers", ["127.0.0.1"], range(*POOL_PORTS))
        self.phases = install_phases(self.clusters)
        self.made: list[str] = []
        self.plain: list[Plain] = []
        self.ports: set[int] = set()
        self.load: subprocess.Popen[str] | None = None
        self.url = ""
        self.results: dict[str, dict[str, list[float]]] = {}
        self.breakdown: dict[str, list[dict[str, float]]] = {}
        self.facts: dict[str, str] = {}
        self.pool_rows: list[tuple[str, float, float]] = []

    def record(self, what: str, platform: float, baseline: float, phases: dict[str, float]) -> None:
        row = self.results.setdefault(what, {"platform": [], "baseline": []})
        row["platform"].append(platform)
        row["baseline"].append(baseline)
        self.breakdown.setdefault(what, []).append(phases)
        log(f"{what}: platform {platform:.1f} s, baseline {baseline:.1f} s")

    def source_cluster(self) -> Cluster:
        return self.clusters.cluster(SOURCE)

    # -- setup ---------------------------------------------------------------------------------
    def setup(self) -> None:
        start = time.monotonic()
        self.url = self.provider.provision(SOURCE, PLAN)
        self.made.append(SOURCE)
        scale = max(1, round(self.args.size_mb / MB_PER_SCALE))
        log(f"source on port {self.source_cluster().port}; pgbench -i -s {scale}")
        pgbench(self.url, "-i", "-q", "-s", str(scale))
        with self.source_cluster().connect(SOURCE) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        assert row is not None
        self.facts["pg_database_size(source)"] = f"{int(str(row[0])) / 2**20:,.0f} MiB"
        self.facts["pgbench scale"] = str(scale)
        log(f"database {self.facts['pg_database_size(source)']}; fresh full base backup")
        took = time.monotonic()
        self.provider.base_backup(SOURCE)
        self.facts["source full backup s"] = f"{time.monotonic() - took:.1f}"
        self.facts["setup s"] = f"{time.monotonic() - start:.1f}"
        self.phases.take()

    def new_resource(self, kind: str, run: int) -> str:
        name = f"bench_{kind}_{run}"
        self.made.append(name)
        return name

    def drop(self, resource: str) -> None:
        self.provider.deprovision(resource)
        self.made.remove(resource)

    def new_plain(self, name: str) -> Plain:
        plain = Plain(self.root / "plain" / name, free_port(BASE_PORTS, self.ports))
        self.plain.append(plain)
        return plain

    def drop_plain(self, plain: Plain) -> None:
        plain.remove()
        self.plain.remove(plain)
        self.ports.discard(plain.port)

    # -- fork and rollback ---------------------------------------------------------------------
    def platform_restore(self, kind: str, run: int, to: datetime | None) -> tuple[float, dict]:
        resource = self.new_resource(kind, run)
        self.phases.take()
        start = time.monotonic()
        url = self.provider.restore_from(resource, PLAN, SOURCE, to)
        returned = time.monotonic()
        write_once(url_connect(url))
        total = time.monotonic() - start
        phases = self.phases.take()
        phases["own credentials, start, the rest"] = (returned - start) - sum(phases.values())
        phases["first write with the new URL"] = total - (returned - start)
        self.drop(resource)
        return total, phases

    def baseline_restore(self, name: str, target: tuple[str, str]) -> float:
        plain = self.new_plain(name)
        conf = self.clusters.conf(SOURCE)
        argv = ["pgbackrest", f"--config={conf}", f"--stanza={SOURCE}", f"--pg1-path={plain.data}"]
        argv += [f"--type={target[0]}", f"--target={target[1]}", "--target-action=promote"]
        start = time.monotonic()
        must(as_postgres([*argv, "restore"]), "pgbackrest restore")
        restored = time.monotonic()
        plain.start()
        write_once(plain.connect)
        total = time.monotonic() - start
        rest = time.monotonic() - restored
        log(f"  baseline: restore {restored - start:.1f} s, start + write {rest:.1f} s")
        self.drop_plain(plain)
        return total

    def pair(
        self,
        what: str,
        run: int,
        platform: Callable[[], tuple[float, dict]],
        baseline: Callable[[], float],
    ) -> None:
        """Both sides of one measurement, after an untimed CHECKPOINT of the source each (so
        neither pays for the other's dirty pages); even runs start with the platform."""
        got: dict[str, Any] = {}
        for side in ("platform", "baseline") if run % 2 == 0 else ("baseline", "platform"):
            with self.source_cluster().connect() as conn:
                conn.execute("CHECKPOINT")
            got[side] = platform() if side == "platform" else baseline()
        self.record(what, got["platform"][0], got["baseline"], got["platform"][1])

    def fork(self, run: int) -> None:
        def baseline() -> float:
            point = continuity.target(self.clusters, SOURCE, None)  # made by hand, not timed
            self.phases.take()
            return self.baseline_restore(f"fork{run}", point)

        self.pair("fork (--fork)", run, lambda: self.platform_restore("fork", run, None), baseline)

    def rollback(self, run: int, moment: datetime) -> None:
        self.pair(
            f"rollback {self.args.back_seconds} s back",
            run,
            lambda: self.platform_restore("rollback", run, moment),
            lambda: self.baseline_restore(f"rollback{run}", ("time", stamp(moment))),
        )

    # -- followers -----------------------------------------------------------------------------
    def head(self) -> str:
        with self.source_cluster().connect() as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
        assert row is not None
        return str(row[0])

    def follower(self, run: int) -> None:
        self.pair(
            "follower (--follow)",
            run,
            lambda: self.platform_follower(run),
            lambda: self.baseline_follower(run),
        )

    def platform_follower(self, run: int) -> tuple[float, dict]:
        resource = self.new_resource("follower", run)
        self.phases.take()
        start = time.monotonic()
        lsn = self.head()
        self.provider.follow(resource, PLAN, SOURCE, self.url)
        started = time.monotonic()
        caught_up(self.clusters.cluster(resource).connect, lsn)
        platform = time.monotonic() - start
        phases = self.phases.take()
        phases["start (pg_ctl -w) and the rest"] = (started - start) - sum(phases.values())
        phases["until streaming, caught up"] = platform - (started - start)
        self.drop(resource)
        return platform, phases

    def baseline_follower(self, run: int) -> float:
        plain = self.new_plain(f"follower{run}")
        src = self.source_cluster()
        argv = [str(find_bin_dir() / "pg_basebackup"), "-D", str(plain.data), "-X", "stream"]
        argv += ["-R", "-c", "fast", "-h", str(src.sockets), "-p", str(src.port), "-U", "postgres"]
        start = time.monotonic()
        lsn = self.head()
        must(as_postgres(argv), "pg_basebackup")
        copied = time.monotonic()
        plain.start()
        caught_up(plain.connect, lsn)
        total = time.monotonic() - start
        rest = time.monotonic() - copied
        log(f"  baseline: pg_basebackup {copied - start:.1f} s, start + catch-up {rest:.1f} s")
        self.drop_plain(plain)
        return total

    # -- pooler --------------------------------------------------------------------------------
    def pooler(self) -> None:
        database = SOURCE
        logins = [f"{database}_a", f"{database}_b"]
        port = self.poolers.attach(SOURCE, self.source_cluster(), database, logins)
        direct = self.url
        parts = urlsplit(direct)
        pooled = parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{port}")
        common = ["-c", "50", "-j", "2", "-M", "simple", "-T", str(self.args.pool_seconds), "-n"]
        for mode, flag in (("select-only (-S)", "-S"), ("TPC-B-like (-N)", "-N")):
            got: dict[str, float] = {}
            for where, url in (("direct", direct), ("pgbouncer", pooled.geturl())):
                got[where] = tps(pgbench(url, *common, flag))
                log(f"pooler {mode} {where}: {got[where]:,.0f} tps")
            self.pool_rows.append((mode, got["pgbouncer"], got["direct"]))
        self.poolers.detach(SOURCE)

    # -- the rollback's wait -------------------------------------------------------------------
    def replay_load(self) -> None:
        seconds = str(self.args.replay_seconds)
        out = pgbench(self.url, "-c", "4", "-j", "2", "-N", "-n", "-T", seconds)
        self.facts["pgbench -N before the rollback target"] = f"{seconds} s, {tps(out):,.0f} tps"

    def start_light_load(self) -> None:
        argv = ["pgbench", "-c", "2", "-j", "1", "-R", "20", "-N", "-n", "-T", "86400", self.url]
        self.load = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
        )

    def stop_light_load(self) -> None:
        if self.load is not None and self.load.poll() is None:
            self.load.terminate()
            self.load.wait(timeout=30)
        self.load = None

    def cleanup(self) -> None:
        self.stop_light_load()
        self.phases.undo()
        try:
            self.poolers.detach(SOURCE)
        except Exception as exc:
            log(f"cleanup: pooler: {exc}")
        for plain in list(self.plain):
            plain.remove()
        for resource in reversed(self.made):
            try:
                self.provider.deprovision(resource)
            except Exception as exc:
                log(f"cleanup: {resource}: {exc}")


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00")


def caught_up(connect: Callable[[], psycopg.Connection[Any]], lsn: str) -> None:
    """Until the standby streams and has replayed ``lsn``."""
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        try:
            with connect() as conn:
                row = conn.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn, "
                    "(SELECT status FROM pg_stat_wal_receiver)",
                    (lsn,),
                ).fetchone()
            if row is not None and row[0] and row[1] == "streaming":
                return
        except (psycopg.Error, ComponentFailed):
            pass
        time.sleep(0.05)
    raise RuntimeError("the follower did not catch up in an hour")


# -- the run and its table ---------------------------------------------------------------------
def run(bench: Bench) -> None:
    args = bench.args
    bench.setup()
    bench.replay_load()
    moment = datetime.now(UTC)
    with bench.source_cluster().connect(SOURCE) as conn:
        conn.execute("SELECT pg_current_xact_id()")  # a commit right after the target
    ready_at = time.monotonic() + args.back_seconds
    log(f"rollback target {stamp(moment)}; fork, follower and pooler meanwhile")
    for n in range(args.runs):
        bench.fork(n)
    for n in range(args.runs):
        bench.follower(n)
    if args.pool_seconds > 0:
        bench.pooler()
    wait = ready_at - time.monotonic()
    if wait > 0:
        log(f"light write load (pgbench -R 20 -N) for {wait:.0f} s until the target is old enough")
        bench.start_light_load()
        time.sleep(wait)
        bench.stop_light_load()
    bench.facts["rollback target age at its measurement s"] = (
        f"{(datetime.now(UTC) - moment).total_seconds():.0f}"
    )
    for n in range(args.runs):
        bench.rollback(n, moment)


def table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in
                        enumerate(zip(r, widths, strict=True))))  # fmt: skip
        if i == 0:
            print("  ".join("-" * w for w in widths))


def report(bench: Bench) -> None:
    print()
    head = ["what", "platform s", "baseline s", "ratio", "goal", "met", "w/o own backup"]
    rows = [head]
    for what, got in bench.results.items():
        p, b = statistics.median(got["platform"]), statistics.median(got["baseline"])
        met = "met" if p / b <= GOAL else "not met"
        own = statistics.median([x.get(OWN_BACKUP, 0.0) for x in bench.breakdown[what]])
        less = f"{(p - own) / b:.2f}x" if own else "-"
        rows.append([what, f"{p:.1f}", f"{b:.1f}", f"{p / b:.2f}x", f"<= {GOAL}x", met, less])
    table(rows)
    print(f"(medians of {bench.args.runs} run(s); ratio = platform / baseline, same run;")
    print(" w/o own backup: the ratio less the new cluster's first full backup, which")
    print(" restore_from waits for but the baseline does not take)")
    print()
    rows = [["where the platform's time goes (median s)", *bench.results]]
    labels = sorted({k for runs in bench.breakdown.values() for p in runs for k in p})
    for label in labels:
        cells = [statistics.median([p.get(label, 0.0) for p in bench.breakdown[w]])
                 for w in bench.results]  # fmt: skip
        rows.append([label, *(f"{c:.1f}" if c else "-" for c in cells)])
    table(rows)
    if bench.pool_rows:
        print()
        rows = [["pgbench -c 50 -j 2 -M simple", "pgbouncer tps", "direct tps", "ratio"]]
        for mode, pooled, direct in bench.pool_rows:
            rows.append([mode, f"{pooled:,.0f}", f"{direct:,.0f}", f"{pooled / direct:.2f}x"])
        table(rows)
    print()
    for key, value in bench.facts.items():
        print(f"{key}: {value}")
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs; load average at the end {load[0]:.2f} (1 min) {load[2]:.2f} "
          "(15 min)")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--back-seconds", type=int, default=600)
    parser.add_argument("--replay-seconds", type=int, default=60)
    parser.add_argument("--pool-seconds", type=int, default=30)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (runuser to the postgres user)")
    for tool in ("pgbench", "pgbackrest", "pgbouncer"):
        if shutil.which(tool, path="/usr/sbin:/usr/bin") is None:
            raise SystemExit(f"{tool} is not installed")
    root = Path(tempfile.mkdtemp(prefix="moorage-bench-pgc-"))
    root.chmod(0o711)
    (root / "plain").mkdir(mode=0o711)
    bench = Bench(root, args)
    failed = False
    try:
        run(bench)
    except Exception as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}")
        failed = True
    finally:
        bench.cleanup()
        shutil.rmtree(root, ignore_errors=True)
    if bench.results or bench.pool_rows:
        report(bench)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
