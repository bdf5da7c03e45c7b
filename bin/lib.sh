# Shared steps of bin/up and bin/test: install what the platform needs, start Docker.
# Every step checks first and changes nothing that is already as it should be.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
export PATH="$VENV/bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "Run this as root (it installs packages and runs Docker, nginx and PostgreSQL)." >&2
    exit 1
  fi
}

apt_ensure() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

system_packages() {
  apt_ensure docker.io nginx postgresql docker-registry debootstrap python3-venv \
    ca-certificates curl iptables libnss-myhostname libnginx-mod-http-lua redis-server skopeo pgbackrest pgbouncer "$@"
}

venv_ensure() {
  local extra="${1:-}"
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    python3 -m venv "$VENV"
  fi
  local stamp="$VENV/.installed$extra"
  if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    say "installing Python dependencies into $VENV"
    "$VENV/bin/pip" install -q -e "$ROOT$extra"
    touch "$stamp"
  fi
}

docker_ensure() {
  if docker info >/dev/null 2>&1; then return 0; fi
  say "starting dockerd"
  if [ -d /run/systemd/system ]; then
    systemctl start docker || true
  fi
  if ! docker info >/dev/null 2>&1; then
    setsid nohup dockerd >>/var/log/moorage-dockerd.log 2>&1 </dev/null &
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "dockerd did not start; see /var/log/moorage-dockerd.log" >&2
  exit 1
}
