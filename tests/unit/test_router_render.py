import shutil
import subprocess
from pathlib import Path

import pytest

from moorage.router.nginx import NGINX, render
from moorage.spec.dyno import Route


def test_unknown_hosts_get_404_and_apps_without_dynos_503(tmp_path: Path) -> None:
    conf = render([Route("idle", ("idle.example.test",), ())], port=8081, root=tmp_path)
    assert "listen 8081 default_server" in conf
    assert "location / { return 404; }" in conf
    idle = conf[conf.index("server_name idle.example.test") :]
    assert "return 503" in idle.split("}", 3)[0] + idle


def test_backends_are_load_balanced_with_keepalive(tmp_path: Path) -> None:
    route = Route("actors", ("actors.example.test",), ("172.18.0.2:5000", "172.18.0.3:5000"))
    conf = render([route], port=80, root=tmp_path)
    assert "upstream app_actors {" in conf
    assert "server 172.18.0.2:5000" in conf and "server 172.18.0.3:5000" in conf
    assert "keepalive 32;" in conf
    assert "proxy_set_header X-Request-Id $request_id;" in conf


def test_render_is_pure() -> None:
    routes = [Route("b", ("b.x",), ("10.0.0.1:1",)), Route("a", ("a.x",), ())]
    assert render(routes, port=1, root=Path("/r")) == render(routes[::-1], port=1, root=Path("/r"))


@pytest.mark.skipif(not shutil.which(NGINX) and not Path(NGINX).exists(), reason="nginx missing")
def test_nginx_accepts_the_rendered_config(tmp_path: Path) -> None:
    for sub in ("temp/body", "temp/proxy", "temp/fastcgi", "temp/uwsgi", "temp/scgi"):
        (tmp_path / sub).mkdir(parents=True)
    routes = [Route("a", ("a.x",), ("127.0.0.1:9",)), Route("b", ("b.x",), ())]
    (tmp_path / "nginx.conf").write_text(render(routes, port=18999, root=tmp_path))
    proc = subprocess.run(
        [
            NGINX,
            "-t",
            "-p",
            str(tmp_path),
            "-e",
            str(tmp_path / "error.log"),
            "-c",
            str(tmp_path / "nginx.conf"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
