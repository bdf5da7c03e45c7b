import shutil
import subprocess
from pathlib import Path

import pytest

from moorage.router.certs import ensure_edge_certs
from moorage.router.nginx import (
    MODULES,
    NGINX,
    Edge,
    ensure_worker_user,
    render,
    render_table,
    write_request_ids,
)
from moorage.spec.dyno import HostCert, Route


def test_the_config_names_no_app_so_deploys_never_change_it(tmp_path: Path) -> None:
    conf = render(port=8081, root=tmp_path)
    assert "listen 8081 default_server" in conf
    assert f"listen unix:{tmp_path}/private/control.sock" in conf
    assert "balancer_by_lua_block" in conf and "keepalive 64;" in conf
    assert "proxy_set_header X-Request-Id $moorage_request_id;" in conf
    assert "error_page 502 503 504 /503.html;" in conf
    # no Lua before the balancer: it routes, and nginx itself makes the request id
    assert "set_by_lua" not in conf and "access_by_lua" not in conf
    assert f"include {tmp_path}/request_id.conf;" in conf
    assert f"listen unix:{tmp_path}/run/404.sock" in conf
    assert f"listen unix:{tmp_path}/run/503.sock" in conf


def test_request_ids_get_a_new_prefix_each_time_nginx_starts(tmp_path: Path) -> None:
    write_request_ids(tmp_path)
    first = (tmp_path / "request_id.conf").read_text()
    write_request_ids(tmp_path)
    second = (tmp_path / "request_id.conf").read_text()
    assert first != second
    assert second.startswith("set $moorage_request_id ")
    assert second.rstrip().endswith("-$connection-$connection_requests;")


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


def test_custom_certificates_travel_in_the_table_for_the_app_s_own_hosts_only() -> None:
    certs = (
        HostCert("www.shop.test", "CHAIN\n", "KEY\n"),
        HostCert("elsewhere.test", "X", "Y"),  # not a host of this route
    )
    table = render_table([Route("shop", ("shop.x", "www.shop.test"), (), certs)])
    assert table.splitlines()[-1] == "cert www.shop.test Q0hBSU4K S0VZCg=="
    assert "elsewhere" not in table
    assert "KEY" not in repr(certs[0])


def test_render_is_pure() -> None:
    routes = [Route("b", ("b.x",), ("10.0.0.1:1",)), Route("a", ("a.x",), ())]
    assert render_table(routes) == render_table(routes[::-1])
    assert render(port=1, root=Path("/r")) == render(port=1, root=Path("/r"))


@pytest.mark.skipif(
    not Path(NGINX).exists() or not (MODULES / "ngx_http_lua_module.so").exists(),
    reason="nginx or its lua module is missing",
)
@pytest.mark.parametrize("with_edge", [False, True])
def test_nginx_accepts_the_rendered_config(tmp_path: Path, with_edge: bool) -> None:
    ensure_worker_user()
    for sub in ("temp/body", "temp/proxy", "temp/fastcgi", "temp/uwsgi", "temp/scgi", "private"):
        (tmp_path / sub).mkdir(parents=True)
    (tmp_path / "run").mkdir()
    write_request_ids(tmp_path)
    (tmp_path / "logs").mkdir()
    shutil.copytree(Path(__file__).parents[2] / "src/moorage/router/lua", tmp_path / "lua")
    edge = None
    if with_edge:
        certs = ensure_edge_certs(tmp_path / "tls", "shop.test")
        edge = Edge("shop.test", 18998, "127.0.0.1:1", "127.0.0.1:2", certs)
    conf = render(port=18999, root=tmp_path, edge=edge)
    assert ("ssl_certificate_by_lua_block" in conf) is with_edge
    assert "location ^~ /.well-known/acme-challenge/" in conf
    (tmp_path / "nginx.conf").write_text(conf)
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
