"""Releases from prebuilt images (issue 17): `moor container:release --image REF`.

Images come from stand-in registries on loopback (tests/standin.py), reached directly or
through the platform's mirror setting, as public and private registries would be.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.livefixtures import PRIVATE_LOGIN, PRIVATE_REGISTRY, LivePlatform
from tests.standin import StandIn

pytestmark = pytest.mark.integration


def _serves(platform: LivePlatform, app: str, text: str) -> None:
    platform.wait_for(app, text, timeout=120)


def _releases(platform: LivePlatform, app: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = platform.json("releases", "-a", app)
    return rows


def test_release_by_tag_and_by_digest_then_roll_back_to_a_pushed_image(
    platform: LivePlatform, standin: StandIn, tmp_path: Path
) -> None:
    app = platform.create_app("prebuilt")
    standin.publish(f"{standin.host}/tiny:1", greeting="tiny one")
    first = platform.moor(
        "container:release", "web", "--image", f"{standin.host}/tiny:1", "-a", app
    )
    assert "Copying layer" in first.stdout and "done (v1)" in first.stdout, first.stdout
    _serves(platform, app, "tiny one")
    digest = standin.publish("ghcr.io/acme/tiny:2", greeting="tiny two")
    assert digest.startswith("sha256:")
    pinned = f"ghcr.io/acme/tiny@{digest}"
    second = platform.moor("container:release", "--image", f"web={pinned}", "-a", app)
    assert f"ghcr.io/acme/tiny@{digest}" in second.stdout, second.stdout
    _serves(platform, app, "tiny two")
    info = platform.json("releases:info", "v2", "-a", app)
    assert info["moorage"]["image_sources"] == {"web": pinned}  # as asked
    running = info["images"]["web"].rsplit("@", 1)[1]  # its linux/amd64 image, as copied
    assert running.removeprefix("sha256:")[:12] in info["description"], info

    (tmp_path / "app.py").write_text(
        "import http.server, os\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(b'pushed')\n"
        "http.server.HTTPServer(('', int(os.environ['PORT'])), H).serve_forever()\n"
    )
    (tmp_path / "Dockerfile").write_text(
        'FROM python:3\nCOPY app.py /\nCMD ["python3", "/app.py"]\n'
    )
    platform.moor("container:push", "web", "-a", app, cwd=tmp_path)
    platform.moor("container:release", "web", "-a", app, cwd=tmp_path)
    _serves(platform, app, "pushed")
    platform.moor("container:release", "web", "--image", pinned, "-a", app)
    _serves(platform, app, "tiny two")
    platform.moor("releases:rollback", "v3", "-a", app)
    _serves(platform, app, "pushed")
    events = platform.moor("logs", "-a", app, "--source", "moorage", "-n", "300").stdout
    assert "moorage[image]" in events and "Copying layer" in events, events


def test_a_private_image_needs_the_apps_credentials(
    platform: LivePlatform, private_standin: StandIn
) -> None:
    app = platform.create_app("private")
    image = f"{PRIVATE_REGISTRY}/acme/secret:1"
    private_standin.publish(image, greeting="private one")
    refused = platform.moor("container:release", "web", "--image", image, "-a", app, check=False)
    assert refused.returncode != 0
    assert f"add credentials with moor registry:login {PRIVATE_REGISTRY}" in refused.stderr
    assert "Traceback" not in refused.stderr

    user, password = PRIVATE_LOGIN
    platform.moor("registry:login", "ghcr.io", "-u", user, "--password-stdin", "-a", app,
                  input_text=password)  # fmt: skip
    wrong_host = platform.moor("container:release", "web", "--image", image, "-a", app, check=False)
    assert f"registry:login {PRIVATE_REGISTRY}" in wrong_host.stderr, wrong_host.stderr
    platform.moor("registry:login", PRIVATE_REGISTRY, "-u", user, "--password-stdin", "-a", app,
                  input_text="not-" + password)  # fmt: skip
    bad = platform.moor("container:release", "web", "--image", image, "-a", app, check=False)
    assert "were refused" in bad.stderr, bad.stderr
    platform.moor("registry:login", PRIVATE_REGISTRY, "-u", user, "--password-stdin", "-a", app,
                  input_text=password)  # fmt: skip
    platform.moor("container:release", "web", "--image", image, "-a", app)
    _serves(platform, app, "private one")

    listed = platform.moor("registry", "-a", app).stdout
    assert PRIVATE_REGISTRY in listed and user in listed and password not in listed
    token = (platform.data / "admin@example.test.token").read_text().strip()
    logins = httpx.get(
        f"{platform.api}/apps/{app}/registry-logins",
        headers={"Authorization": f"Bearer {token}"},
    ).text
    seen = [
        logins,
        platform.moor("logs", "-a", app, "-n", "500").stdout,
        (platform.data / "server.log").read_text(errors="replace"),
    ]
    assert all(password not in text for text in seen)


def test_missing_unreachable_and_malformed_images_change_nothing(
    platform: LivePlatform, standin: StandIn
) -> None:
    app = platform.create_app("badimage")
    standin.publish("ghcr.io/acme/ok:1", greeting="still serving")
    platform.moor("container:release", "web", "--image", "ghcr.io/acme/ok:1", "-a", app)
    _serves(platform, app, "still serving")

    cases = {
        "ghcr.io/acme/ok:nope": "has no such image",
        "nowhere.invalid/acme/x:1": "nowhere.invalid could not be reached",
        "Not A Reference!": "is not an image reference",
        "ghcr.io/acme/ok@sha256:abc": "a digest is sha256:",
    }
    for ref, said in cases.items():
        failed = platform.moor(
            "container:release", "web", "--image", ref, "-a", app, check=False, timeout=300
        )
        assert failed.returncode != 0, ref
        assert said in failed.stderr, (ref, failed.stderr)
        assert "Traceback" not in failed.stderr
    unreachable = platform.moor(
        "container:release", "web", "--image", "nowhere.invalid/acme/x:1", "-a", app, check=False
    )
    assert "MOORAGE_REGISTRY_MIRRORS" in unreachable.stderr
    assert len(_releases(platform, app)) == 1
    _serves(platform, app, "still serving")


def test_a_multi_platform_image_without_linux_amd64_is_refused(
    platform: LivePlatform, standin: StandIn
) -> None:
    app = platform.create_app("armonly")
    digest = standin.publish("ghcr.io/acme/armonly:single", greeting="arm")
    manifest = httpx.get(
        f"http://{standin.host}/v2/ghcr.io/acme/armonly/manifests/single",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            {
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "size": len(manifest.content),
                "digest": digest,
                "platform": {"architecture": "arm64", "os": "linux"},
            }
        ],
    }
    put = httpx.put(
        f"http://{standin.host}/v2/ghcr.io/acme/armonly/manifests/arm",
        content=json.dumps(index),
        headers={"Content-Type": index["mediaType"]},
    )
    assert put.status_code == 201, put.text
    refused = platform.moor(
        "container:release", "web", "--image", "ghcr.io/acme/armonly:arm", "-a", app, check=False
    )
    assert "without a linux/amd64 image (it has linux/arm64)" in refused.stderr, refused.stderr
