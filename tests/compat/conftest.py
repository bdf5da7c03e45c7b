"""The official Heroku CLI (npm ``heroku@11``) pointed at a live platform.

The CLI only speaks to ``https://api.<HEROKU_HOST>`` and ``registry.<HEROKU_HOST>`` on port
443 (and its git remotes are ``https://git.<HEROKU_HOST>/<app>.git``), while the test
platform's edge listens on a free port. So, for the session, this puts
``api.``/``registry.``/``git.<domain>`` on a loopback address of the test process's own
(127.0.<slot + 2>.2) in /etc/hosts and forwards its port 443 to the edge (iptables DNAT), as
a host's public 443 would be, so two workers' sessions never meet; both are removed
at the end. git, like docker, is told to trust the platform's CA for ``git.<domain>`` only
(``http.https://git.<domain>/.sslCAInfo``, as the README tells users); and as libcurl
resolves every ``*.localhost`` name to 127.0.0.1 itself, never reading /etc/hosts, git is
told where ``git.<domain>`` is (``http.curloptResolve``, the stand-in for a DNS record).
Both through ``GIT_CONFIG_*``, so the global git config stays the CLI's to write.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.livefixtures import ROOT, SLOT, LivePlatform

CACHE = ROOT / ".cache" / "compat"
HOSTS = Path("/etc/hosts")
HOSTS_LOCK = Path("/run/lock/moorage-compat-hosts")
EDGE_IP = f"127.0.{SLOT + 2}.2"


def _node_major(node: str) -> int:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return 0
    return int(out.stdout.strip().lstrip("v").split(".")[0])


def _install_cli() -> Path:
    """heroku@11 under .cache/compat (and Node 20 from npm when the system's is older)."""
    bin_dir = CACHE / "node_modules" / ".bin"
    heroku = bin_dir / "heroku"
    if not heroku.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        packages = ["heroku@11"]
        if _node_major(shutil.which("node") or "node") < 20:
            packages.append("node@20")  # heroku@11 needs Node >= 20; Debian 12 has 18
        subprocess.run(
            ["npm", "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", *packages],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return bin_dir


@dataclass
class HerokuCli:
    env: dict[str, str]
    platform: LivePlatform

    def __call__(
        self,
        *args: str,
        cwd: Path | None = None,
        check: bool = True,
        timeout: float = 900,
        input_text: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["heroku", *args],
            capture_output=True,
            text=True,
            input=input_text,
            stdin=subprocess.DEVNULL if input_text is None else None,
            env=self.env,
            cwd=cwd or self.env["HOME"],
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"heroku {' '.join(args)} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    @property
    def program(self) -> str:
        """The CLI's path (for a run on a pseudo-terminal)."""
        found = shutil.which("heroku", path=self.env["PATH"])
        assert found is not None
        return found


def _forward(platform: LivePlatform, add: bool) -> None:
    """EDGE_IP:443 -> this platform's edge. A session killed before its teardown leaves
    its rule behind, pointing at a port nothing listens on, and ahead of ours: every
    such rule goes first (found when a killed run made the next run's CLI get ECONNREFUSED)."""
    if add:
        listed = subprocess.run(
            ["iptables", "-w", "-t", "nat", "-S", "OUTPUT"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        for line in listed:
            if f"-d {EDGE_IP}/32" in line and "--dport 443" in line and "DNAT" in line:
                stale = line.split()[2:]  # "-A OUTPUT <spec>" -> <spec>
                subprocess.run(["iptables", "-w", "-t", "nat", "-D", "OUTPUT", *stale], check=True)
    rule = [
        "OUTPUT", "-t", "nat", "-d", f"{EDGE_IP}/32", "-p", "tcp", "--dport", "443",
        "-j", "DNAT", "--to-destination", f"127.0.0.1:{platform.https_port}",
    ]  # fmt: skip
    subprocess.run(["iptables", "-w", "-A" if add else "-D", *rule], check=add, capture_output=True)


def _hosts(names: list[str], add: bool) -> None:
    marker = f"# moorage compat test {EDGE_IP}"
    with open(HOSTS_LOCK, "w") as lock:  # another worker's session may edit it meanwhile
        fcntl.flock(lock, fcntl.LOCK_EX)
        lines = [ln for ln in HOSTS.read_text().splitlines() if marker not in ln]
        if add:
            lines.append(f"{EDGE_IP} {' '.join(names)} {marker}")
        HOSTS.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def heroku(platform: LivePlatform) -> Iterator[HerokuCli]:
    bin_dir = _install_cli()
    home = Path(tempfile.mkdtemp(prefix="moorage-compat-"))
    shim = home / "bin"
    shim.mkdir()
    # heroku@11 passes --provenance to docker clients >= 24, which then need buildx;
    # Debian's docker.io client (20.10) builds without those flags.
    if Path("/usr/bin/docker").exists():
        (shim / "docker").symlink_to("/usr/bin/docker")
    domain = platform.domain
    token = json.loads((platform.data / "credentials.json").read_text())["token"]
    ca = platform.data / "tls" / "ca.crt"
    certs_d = Path(f"/etc/docker/certs.d/registry.{domain}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEROKU_", "MOORAGE_", "CI"))}
    env.pop("GIT_SSL_CAINFO", None)  # set here; it overrides the git config below
    env.update(
        {
            "PATH": f"{shim}:{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(home),
            "XDG_CACHE_HOME": str(home / "cache"),
            "HEROKU_HOST": domain,
            "HEROKU_API_KEY": token,
            "HEROKU_HEADERS": json.dumps({"Authorization": f"Bearer {token}"}),
            "HEROKU_PARTICLEBOARD_URL": f"https://api.{domain}",
            "HEROKU_EXEC_URL": f"https://api.{domain}",
            "NODE_EXTRA_CA_CERTS": str(ca),
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": f"http.https://git.{domain}/.sslCAInfo",
            "GIT_CONFIG_VALUE_0": str(ca),
            "GIT_CONFIG_KEY_1": "http.curloptResolve",
            "GIT_CONFIG_VALUE_1": f"git.{domain}:443:{EDGE_IP}",
            "DISABLE_TELEMETRY": "true",
            "HEROKU_SKIP_NEW_VERSION_CHECK": "true",
            "HEROKU_DISABLE_AUTOUPDATE": "true",
            "TZ": "UTC",
        }
    )
    try:
        names = ["api", "registry", "git", "rendezvous"]
        _hosts([f"{name}.{domain}" for name in names], add=True)
        _forward(platform, add=True)
        certs_d.mkdir(parents=True, exist_ok=True)
        shutil.copy(ca, certs_d / "ca.crt")
        yield HerokuCli(env, platform)
    finally:
        shutil.rmtree(certs_d, ignore_errors=True)
        _forward(platform, add=False)
        _hosts([], add=False)
        shutil.rmtree(home, ignore_errors=True)
