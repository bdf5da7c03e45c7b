"""The router: nginx, configured from the desired routes.

:func:`render` is pure (routes in, nginx.conf text out); :meth:`NginxRouter.apply` writes it,
checks it with ``nginx -t`` and reloads gracefully (SIGHUP), which keeps serving requests.
nginx runs in its own session, so it outlives ``moor server``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from moorage.errors import ComponentFailed
from moorage.spec.dyno import Route

PAGES = Path(__file__).parent / "pages"
NGINX = "/usr/sbin/nginx"
LOG_FORMAT = (
    '\'$msec $moorage_app $moorage_at method=$request_method path="$request_uri" host=$host '
    'request_id=$request_id fwd="$remote_addr" dyno=$upstream_addr '
    "connect=${upstream_connect_time}s service=${upstream_response_time}s "
    "status=$status bytes=$body_bytes_sent protocol=$scheme'"
)


def _upstream(app: str) -> str:
    return "app_" + re.sub(r"[^a-z0-9_]", "_", app)


def render(routes: list[Route], *, port: int, root: Path) -> str:
    """nginx.conf for ``routes``; hosts no route names get the 404 page."""
    pages = root / "pages"
    lines = [
        "worker_processes auto;",
        f"pid {root}/nginx.pid;",
        f"error_log {root}/error.log warn;",
        "events { worker_connections 4096; }",
        "http {",
        f"  log_format moorage {LOG_FORMAT};",
        f"  access_log {root}/access.log moorage buffer=32k flush=1s;",
        f"  client_body_temp_path {root}/temp/body;",
        f"  proxy_temp_path {root}/temp/proxy;",
        f"  fastcgi_temp_path {root}/temp/fastcgi;",
        f"  uwsgi_temp_path {root}/temp/uwsgi;",
        f"  scgi_temp_path {root}/temp/scgi;",
        "  server_tokens off;",
        "  client_max_body_size 100m;",
        "  proxy_http_version 1.1;",
        '  proxy_set_header Connection "";',
        "  proxy_set_header Host $host;",
        "  proxy_set_header X-Request-Id $request_id;",
        "  proxy_set_header X-Forwarded-For $remote_addr;",
        "  proxy_set_header X-Forwarded-Proto $scheme;",
        "  proxy_set_header X-Forwarded-Port $server_port;",
        "  proxy_next_upstream error timeout http_502;",
        "  proxy_connect_timeout 5s;",
        "  proxy_read_timeout 30s;",
        f"  server {{ listen {port} default_server; server_name _;",
        "    set $moorage_app -; set $moorage_at at=info;",
        "    error_page 404 /404.html;",
        "    location / { return 404; }",
        f"    location = /404.html {{ internal; root {pages}; }} }}",
    ]
    for route in sorted(routes, key=lambda r: r.app):
        lines += _app_block(route, port, pages)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _app_block(route: Route, port: int, pages: Path) -> list[str]:
    names = " ".join(route.hosts)
    head = f"  server {{ listen {port}; server_name {names}; set $moorage_app {route.app};"
    if not route.backends:  # Heroku's H10: no web dyno up
        return [
            head,
            "    set $moorage_at 'at=error code=H10 desc=\"App crashed\"';",
            "    error_page 503 /503.html;",
            "    location / { return 503; }",
            f"    location = /503.html {{ internal; root {pages}; }} }}",
        ]
    upstream = _upstream(route.app)
    servers = [f"    server {b} max_fails=1 fail_timeout=5s;" for b in route.backends]
    return [
        f"  upstream {upstream} {{",
        *servers,
        "    keepalive 32;",
        "  }",
        head,
        "    set $moorage_at at=info;",
        "    error_page 502 503 504 /503.html;",
        f"    location = /503.html {{ internal; root {pages}; }}",
        f"    location / {{ proxy_pass http://{upstream}; }} }}",
    ]


class NginxRouter:
    """Owns one nginx master under ``root``; adopts a running one by its pid file."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.conf = root / "nginx.conf"
        self._last: str | None = None

    def _pid(self) -> int | None:
        try:
            pid = int((self.root / "nginx.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"nginx" in cmdline else None

    def running(self) -> bool:
        return self._pid() is not None

    def _check(self, path: Path) -> None:
        proc = subprocess.run(
            [
                NGINX,
                "-t",
                "-q",
                "-p",
                str(self.root),
                "-e",
                str(self.root / "error.log"),
                "-c",
                str(path),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ComponentFailed(f"nginx rejected the router config: {proc.stderr.strip()}")

    def apply(self, routes: list[Route]) -> bool:
        """Write the config for ``routes`` and reload; False when nothing changed."""
        text = render(routes, port=self.port, root=self.root)
        if text == self._last and self.running():
            return False
        for sub in ("temp/body", "temp/proxy", "temp/fastcgi", "temp/uwsgi", "temp/scgi"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
            shutil.chown(self.root / sub, "nobody")
        # nginx workers run as nobody: they read the error pages from our root, not the source
        shutil.copytree(PAGES, self.root / "pages", dirs_exist_ok=True)
        staged = self.root / "nginx.conf.new"
        staged.write_text(text)
        self._check(staged)
        os.replace(staged, self.conf)
        self.reload()
        self._last = text
        return True

    def reload(self) -> None:
        """Graceful reload, or start nginx when none runs."""
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGHUP)
            return
        proc = subprocess.run(
            [NGINX, "-p", str(self.root), "-e", str(self.root / "error.log"), "-c", str(self.conf)],
            capture_output=True,
            text=True,
            check=False,
            start_new_session=True,
        )
        if proc.returncode != 0:
            raise ComponentFailed(
                f"nginx failed to start on port {self.port}: {proc.stderr.strip()}. "
                "Is another process using that port? Set MOORAGE_ROUTER_PORT."
            )

    def reopen_logs(self) -> None:
        """Make nginx reopen its log files (after the log pump moved the access log)."""
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGUSR1)

    def stop(self) -> None:
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGQUIT)
