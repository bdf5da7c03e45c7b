"""Log throughput: lines/s from one dyno to a `moor logs --tail` client, and lines lost.

Run with the project's venv against a running platform (credentials from `moor login`)::

    .venv/bin/python bench/log_throughput.py [--lines 200000] [--rate 10000] [--seconds 10]

It creates an app ``bench-log-<random>`` from tests/integration/apps/tiny, starts
``moor logs --tail -a APP --source app`` as a subprocess, and runs two one-off dynos
(``run:detached``) that print numbered lines ``<tag> <i>``:

* **flat out**: ``--lines`` lines as fast as Python can print them;
* **paced**: ``--rate`` lines per second for ``--seconds`` seconds.

For each it reports lines received by the tail client, lines lost (numbers never seen),
lines announced as dropped by ``Error L10 (output buffer overflow): N messages dropped``
lines (the platform says so when a tail falls too far behind; ``lost`` minus ``announced`` is
silent loss and should be 0), duplicates, and the rate the client received them at (first
to last line). Baseline: the dyno's own writing rate (lines / its run time, from its own
clock). Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MOOR = str(REPO / ".venv" / "bin" / "moor")
TINY = REPO / "tests" / "integration" / "apps" / "tiny"

FLAT = (
    "import sys,time;t=time.time();w=sys.stdout.write\n"
    "for i in range({n}): w('{tag} %d\\n' % i)\n"
    "sys.stdout.flush();print('{tag} done %.3f' % (time.time()-t), flush=True)"
)
PACED = (
    "import sys,time;t=time.time();w=sys.stdout.write;n={n};r={rate}\n"
    "for i in range(n):\n"
    "  w('{tag} %d\\n' % i)\n"
    "  if i % 100 == 99:\n"
    "    sys.stdout.flush();d=t+(i+1)/r-time.time()\n"
    "    if d>0: time.sleep(d)\n"
    "sys.stdout.flush();print('{tag} done %.3f' % (time.time()-t), flush=True)"
)


def moor(*args: str, timeout: float = 600) -> str:
    proc = subprocess.run([MOOR, *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"moor {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def reader(proc: subprocess.Popen[str], q: queue.Queue[tuple[float, str]]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        q.put((time.monotonic(), line))


def run_case(
    app: str, tag: str, code: str, n: int, q: queue.Queue[tuple[float, str]], timeout: float
) -> list[str]:
    moor("run:detached", "-a", app, "--", "python3", "-c", code)
    pat = re.compile(rf"app\[run\.\d+\]: {tag} (\d+)$")
    done_pat = re.compile(rf"app\[run\.\d+\]: {tag} done ([\d.]+)$")
    l10 = re.compile(r"Error L10 \(output buffer overflow\): (\d+) messages dropped")
    seen: dict[int, int] = {}
    announced = 0
    first = last = 0.0
    own = 0.0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            at, line = q.get(timeout=1.0)
        except queue.Empty:
            if own:
                break
            continue
        line = line.rstrip("\n")
        if m := pat.search(line):
            i = int(m.group(1))
            seen[i] = seen.get(i, 0) + 1
            first = first or at
            last = at
        elif m := l10.search(line):
            announced += int(m.group(1))
        elif m := done_pat.search(line):
            own = float(m.group(1))
            deadline = min(deadline, time.monotonic() + 5)  # stragglers
    got = len(seen)
    lost = n - got
    dups = sum(c - 1 for c in seen.values())
    span = max(last - first, 1e-9)
    return [
        tag,
        str(n),
        str(got),
        str(lost),
        str(announced),
        str(dups),
        f"{got / span:,.0f}",
        f"{n / own:,.0f}" if own else "?",
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    app = f"bench-log-{secrets.token_hex(3)}"
    moor("apps:create", app)
    tail: subprocess.Popen[str] | None = None
    try:
        moor("container:push", "web", "-a", app, "--context", str(TINY))
        moor("container:release", "web", "-a", app, "--dir", str(TINY))
        tail = subprocess.Popen(
            [MOOR, "logs", "--tail", "-n", "0", "-a", app, "--source", "app"],
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1 << 20,
        )
        q: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=reader, args=(tail, q), daemon=True).start()
        time.sleep(2)
        rows = [
            run_case(app, "flat", FLAT.format(n=args.lines, tag="flat"), args.lines, q, 300),
            run_case(
                app,
                "paced",
                PACED.format(n=args.rate * args.seconds, rate=args.rate, tag="paced"),
                args.rate * args.seconds,
                q,
                300,
            ),
        ]
        headers = ["case", "sent", "received", "lost", "announced", "dups"]
        headers += ["client lines/s", "dyno lines/s"]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
        for r in rows:
            print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
        print(
            f"\nratio client/dyno rate is the pipeline's share of the dyno's own speed; "
            f"load {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
        )
    finally:
        if tail is not None:
            tail.terminate()
        moor("apps:destroy", "-a", app, "--confirm", app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
