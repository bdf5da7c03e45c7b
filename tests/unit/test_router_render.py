import shutil
import subprocess
from pathlib import Path

import pytest

from moorage.router.nginx import MODULES, NGINX, render, render_table
from moorage.spec.dyno import Route


def test_the_config_names_no_app_so_deploys_never_change_it(tmp_path: Path) -> None:
    conf = render(port=8081, root=tmp_path)
    assert "listen 8081 default_server" in conf
    assert f"listen unix:{tmp_path}/control.sock" in conf
    assert "balancer_by_lua_block" in conf and "keepalive 64;" in conf
    assert "proxy_set_header X-Request-Id $request_id;" in conf
    assert "error_page 502 503 504 /503.html;" in conf


def test_table_lists_hosts_and_sorted_backends() -> None:
    routes = [
        Route("web", ("web.example.test", "www.example.test"), ("10.0.0.3:5000", "10.0.0.2:5000")),
        Route("idle", ("idle.example.test",), ()),
    ]
    assert render_table(routes).splitlines() == [
        "host idle.example.test idle",
        "app idle",
        "host web.example.test web",
        "host www.example.test web",
        "app web 10.0.0.2:5000 10.0.0.3:5000",
    ]


def test_render_is_pure() -> None:
    routes = [Route("b", ("b.x",), ("10.0.0.1:1",)), Route("a", ("a.x",), ())]
    assert render_table(routes) == render_table(routes[::-1])
    assert render(port=1, root=Path("/r")) == render(port=1, root=Path("/r"))


@pytest.mark.skipif(
    not Path(NGINX).exists() or not (MODULES / "ngx_http_lua_module.so").exists(),
    reason="nginx or its lua module is missing",
)
def test_nginx_accepts_the_rendered_config(tmp_path: Path) -> None:
    for sub in ("temp/body", "temp/proxy", "temp/fastcgi", "temp/uwsgi", "temp/scgi"):
        (tmp_path / sub).mkdir(parents=True)
    shutil.copytree(Path(__file__).parents[2] / "src/moorage/router/lua", tmp_path / "lua")
    (tmp_path / "nginx.conf").write_text(render(port=18999, root=tmp_path))
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
