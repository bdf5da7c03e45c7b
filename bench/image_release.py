"""How long `moor container:release --image` takes to serve, against `docker pull` + `docker run`.

Needs the platform of ./bin/up (`moor server` with the default ports, the CLI logged in) and
Docker. It starts a stand-in registry on loopback (tests/standin.py), publishes two images
there built offline from the stack image (python:3 plus a small web app, ~100 MB; the same
plus 400 MB of incompressible data, ~500 MB), and for each, ``--runs`` times:

1. **Baseline.** Every local copy of the image is removed, then `docker pull` from the
   stand-in and `docker run` with PORT=8080 on a bridge network; seconds to the first HTTP
   200 on the container's address.
2. **Platform.** Every local copy is removed again, then `POST /apps/APP/image-releases`
   (what `container:release --image` sends) on a fresh app; seconds to the first 200
   through the router, split into the copy into the platform's registry (until the job
   succeeded) and the rollout (engine pull + boot + router).

It prints a table with the medians and the ratio platform / baseline (goal: 1.3x).

    .venv/bin/python bench/image_release.py            # --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import docker
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.standin import StandIn

from moorage.client import credentials
from moorage.client.api import Client

PORT = 24990
ROUTER = "http://127.0.0.1:7080/"
DOMAIN = "moorage.localhost"


def _publish(standin: StandIn, name: str, padding_mb: int) -> str:
    engine = docker.from_env()
    ctx = Path(f"/tmp/bench-image-{padding_mb}")
    ctx.mkdir(exist_ok=True)
    (ctx / "app.py").write_text(
        "import http.server, os\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(b'ok')\n"
        "http.server.HTTPServer(('', int(os.environ.get('PORT', '8080'))), H).serve_forever()\n"
    )
    pad = f"RUN head -c {padding_mb}M /dev/urandom > /padding\n" if padding_mb else ""
    (ctx / "Dockerfile").write_text(
        f'FROM python:3\n{pad}COPY app.py /app.py\nCMD ["python3", "/app.py"]\n'
    )
    target = standin.where(name)
    engine.images.build(path=str(ctx), tag=target, rm=True)
    standin.push(target)
    return target


def _forget(ref: str) -> None:
    """Remove every image known by ``ref``'s repository (a tag or a digest: the platform's
    prefetch pulls by digest) or copied by the platform for a bench app, with the
    containers of them; the layers shared with python:3 stay."""
    engine = docker.from_env()
    repo = ref.rsplit(":", 1)[0]
    for image in engine.images.list():
        names = image.tags + list(image.attrs.get("RepoDigests") or [])
        if not any(
            n.startswith((f"{repo}:", f"{repo}@", "127.0.0.1:7050/bench-img-")) for n in names
        ):
            continue
        for c in engine.containers.list(all=True, filters={"ancestor": image.id}):
            c.remove(force=True)
        engine.images.remove(image.id, force=True)


def _first_200(url: str, host: str | None, deadline: float) -> float:
    headers = {"Host": host} if host else {}
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, timeout=1).status_code == 200:
                return time.monotonic()
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"no 200 from {url} in time")


def baseline(target: str) -> float:
    engine = docker.from_env()
    _forget(target)
    network = engine.networks.create(f"bench-img-{time.time_ns()}")
    start = time.monotonic()
    engine.images.pull(target)
    c = engine.containers.run(
        target, detach=True, environment={"PORT": "8080"}, network=network.name
    )
    try:
        c.reload()
        ip = c.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        return _first_200(f"http://{ip}:8080/", None, start + 600) - start
    finally:
        c.remove(force=True)
        network.remove()


def platform(client: Client, target: str) -> tuple[float, float]:
    _forget(target)
    app = f"bench-img-{time.time_ns() % 10**8}"
    client.request("POST", "/apps", {"name": app})
    try:
        start = time.monotonic()
        job = client.request(
            "POST", f"/apps/{app}/image-releases", {"updates": [{"type": "web", "image": target}]}
        )
        while job["status"] == "pending":
            time.sleep(0.05)
            job = client.request("GET", f"/apps/{app}/image-releases/{job['id']}")
        if job["status"] != "succeeded":
            raise SystemExit(f"image release failed: {job['message']}")
        copied = time.monotonic()
        served = _first_200(ROUTER, f"{app}.{DOMAIN}", start + 600)
        return copied - start, served - start
    finally:
        client.request("DELETE", f"/apps/{app}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    client = Client(credentials.load(), timeout=30.0)
    standin = StandIn(PORT)
    rows = []
    try:
        for label, pad in (("~100 MB", 0), ("~500 MB", 400)):
            target = _publish(standin, f"{standin.host}/bench/img{pad}:1", pad)
            base, copy, total = [], [], []
            for _ in range(args.runs):
                base.append(baseline(target))
                c, t = platform(client, target)
                copy.append(c)
                total.append(t)
            b, p = statistics.median(base), statistics.median(total)
            rows.append((label, b, statistics.median(copy), p - statistics.median(copy), p, p / b))
    finally:
        standin.close()
    print(
        f"{'image':8} {'baseline s':>10} {'copy s':>7} {'rollout s':>9} "
        f"{'platform s':>10} {'ratio':>6}"
    )
    for label, b, c, r, p, ratio in rows:
        print(f"{label:8} {b:10.2f} {c:7.2f} {r:9.2f} {p:10.2f} {ratio:5.2f}x")


if __name__ == "__main__":
    main()
