"""Build Moorage's base image (the "stack") locally, without pulling anything.

The stack is a Debian bookworm root file system made with ``debootstrap`` and imported into
Docker Engine as :data:`STACK_IMAGE`. It stands in for the official ``python:3`` image (which
cannot be pulled on an offline host): Python 3 with pip and venv, ``python`` pointing at
``python3``, system-wide ``pip install`` allowed, working apt sources, and the host's CA bundle
trusted (so TLS through an intercepting proxy works inside ``docker build``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors
import requests

from moorage.errors import RuntimeFailure

STACK_IMAGE = "moorage/stack:bookworm"
PYTHON_IMAGE = "python:3"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
IMAGE_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
PACKAGES = (
    "ca-certificates",
    "bash",
    "curl",
    "procps",
    "netbase",
    "python3",
    "python3-pip",
    "python3-venv",
    "python-is-python3",
    "postgresql-client",  # psql and pg_dump in every dyno, as on Heroku's stacks (pg:psql)
    "redis-tools",
)
PACKAGES_LABEL = "org.moorage.stack.packages"
IMAGE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    f"ENV SSL_CERT_FILE={IMAGE_CA_BUNDLE}",
    f"ENV PIP_CERT={IMAGE_CA_BUNDLE}",
    f"ENV REQUESTS_CA_BUNDLE={IMAGE_CA_BUNDLE}",
    'CMD ["python3"]',
    f'LABEL {PACKAGES_LABEL}="{",".join(PACKAGES)}"',
)
CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
}
APT_DOCKER_CLEAN = """\
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
"""  # noqa: E501  (same content as the official debian images' docker-clean)
_PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL)
_TAR_CHUNK = 1 << 20

Log = Callable[[str], None]


@dataclass(frozen=True)
class StackResult:
    """What :func:`build_stack` did."""

    image_id: str
    built: bool
    tagged_python: bool
    seconds: float


def stack_present(client: docker.DockerClient) -> bool:
    """Whether :data:`STACK_IMAGE` exists in the Docker Engine behind ``client``."""
    return _image_id(client, STACK_IMAGE) is not None


def build_stack(
    client: docker.DockerClient,
    *,
    workdir: Path,
    force: bool = False,
    tag_python: bool = True,
    mirror: str = DEFAULT_MIRROR,
    log: Log = print,
) -> StackResult:
    """Make sure :data:`STACK_IMAGE` exists, building it with debootstrap if needed.

    With ``tag_python`` the stack is also tagged ``python:3`` when no such image exists (or
    when ``python:3`` is the stack image this call replaced), so Dockerfiles written for the
    official image build unchanged. Raises :class:`RuntimeFailure` when a step fails.
    """
    started = time.monotonic()
    old_id = _image_id(client, STACK_IMAGE)
    built = False
    if old_id is not None and _packages(client, old_id) != ",".join(PACKAGES):
        log(f"stack: {STACK_IMAGE} lacks packages this version installs; rebuilding it")
        force = True
    if old_id is None or force:
        _check_prerequisites()
        workdir.mkdir(parents=True, exist_ok=True)
        rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=workdir))
        try:
            _debootstrap(rootfs, mirror, log)
            _configure_rootfs(rootfs, mirror, log)
            _import_rootfs(client, rootfs, log)
        finally:
            _remove_rootfs(rootfs, log)
        built = True
    image_id = _image_id(client, STACK_IMAGE)
    if image_id is None:
        raise RuntimeFailure(f"{STACK_IMAGE} is missing right after it was imported")
    tagged = tag_python and _tag_python(client, image_id, old_id if built else None, log)
    if built and old_id is not None and old_id != image_id:
        _drop_replaced(client, old_id, log)
    seconds = time.monotonic() - started
    if built:
        log(f"stack: {STACK_IMAGE} is {image_id} (built in {seconds:.1f}s)")
    return StackResult(image_id=image_id, built=built, tagged_python=tagged, seconds=seconds)


# --- Docker -----------------------------------------------------------------------------------


def _docker_failure(action: str, exc: Exception) -> RuntimeFailure:
    return RuntimeFailure(
        f"Docker Engine failed to {action}: {exc}. "
        "Check that dockerd is running and that this user may use its socket."
    )


def _packages(client: docker.DockerClient, image_id: str) -> str:
    """The package list a stack image was built with (empty for stacks before the label)."""
    try:
        labels = client.images.get(image_id).attrs.get("Config", {}).get("Labels") or {}
    except docker.errors.DockerException as exc:
        raise _docker_failure("inspect the stack image", exc) from exc
    return str(labels.get(PACKAGES_LABEL, ""))


def _image_id(client: docker.DockerClient, ref: str) -> str | None:
    """The id of image ``ref``, or ``None`` when there is no such image."""
    try:
        return client.images.get(ref).id
    except docker.errors.ImageNotFound:
        return None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise _docker_failure(f"look up image {ref}", exc) from exc


def _tag_python(client: docker.DockerClient, image_id: str, replaced: str | None, log: Log) -> bool:
    """Tag the stack ``python:3`` unless another ``python:3`` exists; True when tagged."""
    current = _image_id(client, PYTHON_IMAGE)
    if current == image_id or (current is not None and current != replaced):
        return False
    repository, tag = PYTHON_IMAGE.split(":")
    try:
        client.images.get(image_id).tag(repository, tag, force=True)
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise _docker_failure(f"tag {image_id} as {PYTHON_IMAGE}", exc) from exc
    log(f"stack: tagged {STACK_IMAGE} as {PYTHON_IMAGE}")
    return True


def _tar_chunks(stdout: IO[bytes]) -> Iterator[bytes]:
    while chunk := stdout.read(_TAR_CHUNK):
        yield chunk


def _import_rootfs(client: docker.DockerClient, rootfs: Path, log: Log) -> None:
    """Stream ``rootfs`` as a tar into Docker Engine; tag it :data:`STACK_IMAGE` once whole."""
    log(f"stack: importing {rootfs} into Docker Engine as {STACK_IMAGE}")
    argv = ["tar", "-C", str(rootfs), "--numeric-owner", "--exclude=./dev/*", "-c", "."]
    tar_log = tempfile.TemporaryFile()
    try:
        tar = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=tar_log)
    except OSError as exc:
        tar_log.close()
        raise RuntimeFailure(f"cannot run tar to pack the stack's root fs: {exc}") from exc
    assert tar.stdout is not None
    with tar, tar_log:
        try:
            answer: Any = client.api.import_image_from_stream(
                _tar_chunks(tar.stdout), changes=list(IMAGE_CHANGES)
            )
        except (docker.errors.DockerException, requests.RequestException) as exc:
            tar.kill()
            raise _docker_failure(f"import the stack's root fs as {STACK_IMAGE}", exc) from exc
        tar.stdout.close()
        tar.wait()
        tar_log.seek(0)
        tar_errors = tar_log.read().decode(errors="replace").strip()
    image_id = _imported_id(str(answer))
    if tar.returncode != 0:
        if image_id is not None:
            _remove_image(client, image_id)
        raise RuntimeFailure(f"tar failed to pack the stack's root fs: {tar_errors}")
    if image_id is None:
        raise RuntimeFailure(f"Docker Engine refused the stack's root fs: {str(answer).strip()}")
    repository, tag = STACK_IMAGE.split(":")
    try:
        client.images.get(image_id).tag(repository, tag, force=True)
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise _docker_failure(f"tag {image_id} as {STACK_IMAGE}", exc) from exc


def _imported_id(answer: str) -> str | None:
    """The image id in Docker's import answer (a JSON stream that may carry an error)."""
    image_id = None
    for line in answer.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if not isinstance(message, dict) or "error" in message or "errorDetail" in message:
            return None
        status = message.get("status")
        if isinstance(status, str) and status.startswith("sha256:"):
            image_id = status
    return image_id


def _drop_replaced(client: docker.DockerClient, old_id: str, log: Log) -> None:
    """Remove the stack image a rebuild replaced, unless something still uses or names it."""
    try:
        client.images.remove(old_id, force=False)
    except (docker.errors.DockerException, requests.RequestException):
        log(f"stack: kept the replaced stack image {old_id} (still tagged or in use)")
    else:
        log(f"stack: removed the replaced stack image {old_id}")


def _remove_image(client: docker.DockerClient, ref: str) -> None:
    try:
        client.images.remove(ref, force=True)
    except (docker.errors.DockerException, requests.RequestException):
        pass


# --- debootstrap and the root fs ------------------------------------------------------------


def _check_prerequisites() -> None:
    if os.geteuid() != 0:
        raise RuntimeFailure(
            "building the stack needs root (debootstrap and chroot); run `moor stack:build` "
            "as root or with sudo"
        )
    for tool in ("debootstrap", "chroot", "tar"):
        if shutil.which(tool) is None:
            raise RuntimeFailure(
                f"building the stack needs `{tool}`, which is not installed; "
                "install it with `apt-get install debootstrap coreutils tar`"
            )
    if not HOST_CA_BUNDLE.is_file():
        raise RuntimeFailure(
            f"the host CA bundle {HOST_CA_BUNDLE} is missing; install ca-certificates on the "
            "host (`apt-get install ca-certificates`)"
        )


def _run(
    argv: list[str], log: Log, what: str, hint: str, env: dict[str, str] | None = None
) -> None:
    """Run ``argv``, streaming its merged output lines to ``log``; raise on failure."""
    tail: list[str] = []
    try:
        with subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            errors="replace",
        ) as proc:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.rstrip("\n")
                log(line)
                tail = [*tail[-19:], line]
    except OSError as exc:
        raise RuntimeFailure(f"{what} could not be started: {exc}. {hint}") from exc
    if proc.returncode != 0:
        last = "\n".join(tail[-5:])
        raise RuntimeFailure(
            f"{what} failed with exit code {proc.returncode}. {hint}\nLast output:\n{last}"
        )


def _debootstrap(rootfs: Path, mirror: str, log: Log) -> None:
    log(f"stack: debootstrap {SUITE} into {rootfs} from {mirror}")
    started = time.monotonic()
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        SUITE,
        str(rootfs),
        mirror,
    ]
    env = {**os.environ, **CHROOT_ENV}
    hint = f"Check that {mirror} is reachable and serves {SUITE} (see the output above)."
    _run(argv, log, "debootstrap", hint, env)
    log(f"stack: debootstrap took {time.monotonic() - started:.1f}s")


def _configure_rootfs(rootfs: Path, mirror: str, log: Log) -> None:
    """Turn the bare debootstrap result into something like the official python:3 image."""
    _install_host_cas(rootfs, log)
    _write_apt_sources(rootfs, mirror)
    _python_tweaks(rootfs)
    _clean_rootfs(rootfs)


def _pem_bodies(text: str) -> dict[str, str]:
    """The certificates of a PEM bundle, keyed by their whitespace-free base64 body."""
    return {"".join(m.group(1).split()): m.group(0) for m in _PEM_RE.finditer(text)}


def _install_host_cas(rootfs: Path, log: Log) -> None:
    """Make the image trust every CA the host trusts, also after a later update-ca-certificates.

    The host's certificates that the image's bundle lacks (typically the intercepting proxy's
    CA) go to ``/usr/local/share/ca-certificates``, one per file, which update-ca-certificates
    adds to the bundle every time it runs.
    """
    host = _pem_bodies(HOST_CA_BUNDLE.read_text(errors="replace"))
    image_bundle = rootfs / IMAGE_CA_BUNDLE.lstrip("/")
    present = _pem_bodies(_read(image_bundle))
    missing = [pem for body, pem in host.items() if body not in present]
    local = rootfs / "usr/local/share/ca-certificates"
    local.mkdir(parents=True, exist_ok=True)
    for index, pem in enumerate(missing, start=1):
        (local / f"moorage-host-{index:03d}.crt").write_text(pem + "\n")
    log(f"stack: adding {len(missing)} host CA certificate(s) to the image")
    hint = "The stack's ca-certificates package is broken; rebuild with force."
    _run(
        ["chroot", str(rootfs), "update-ca-certificates"],
        log,
        "update-ca-certificates",
        hint,
        CHROOT_ENV,
    )
    absent = set(host) - set(_pem_bodies(_read(image_bundle)))
    if absent:
        raise RuntimeFailure(
            f"{len(absent)} host CA certificate(s) are still missing from the stack's "
            f"{IMAGE_CA_BUNDLE} after update-ca-certificates; the image would not trust "
            "the host's TLS proxy"
        )


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.is_file() else ""


def _security_mirror(mirror: str) -> str | None:
    """The security archive beside ``mirror`` (``.../debian`` -> ``.../debian-security``)."""
    base = mirror.rstrip("/")
    return base + "-security" if base.endswith("/debian") else None


def _write_apt_sources(rootfs: Path, mirror: str) -> None:
    """deb822 sources like the official images': the suite, its updates and security."""
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    stanzas = [
        f"Types: deb\nURIs: {mirror}\nSuites: {SUITE} {SUITE}-updates\nComponents: main\n"
        f"Signed-By: {keyring}\n"
    ]
    security = _security_mirror(mirror)
    if security is not None:
        stanzas.append(
            f"Types: deb\nURIs: {security}\nSuites: {SUITE}-security\nComponents: main\n"
            f"Signed-By: {keyring}\n"
        )
    (rootfs / "etc/apt/sources.list.d/debian.sources").write_text("\n".join(stanzas))
    (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
    (rootfs / "etc/apt/apt.conf.d/docker-clean").write_text(APT_DOCKER_CLEAN)


def _python_tweaks(rootfs: Path) -> None:
    """Allow system-wide pip installs and provide ``python`` and ``pip``, like python:3."""
    for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    for name, target in (("python", "python3"), ("pip", "pip3")):
        link = rootfs / "usr/bin" / name
        if not link.exists() and not link.is_symlink():
            link.symlink_to(target)


def _clean_rootfs(rootfs: Path) -> None:
    """Drop apt caches and host-specific files debootstrap copied in."""
    for pattern in (
        "var/lib/apt/lists/*_*",
        "var/cache/apt/*.bin",
        "var/cache/apt/archives/*.deb",
        "var/cache/apt/archives/partial/*",
        "var/log/apt/*",
        "var/log/*.log",
    ):
        for path in rootfs.glob(pattern):
            if path.is_file() or path.is_symlink():
                path.unlink()
    (rootfs / "etc/hostname").write_text("localhost\n")
    resolv = rootfs / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    resolv.write_text("")


def _mounts_under(rootfs: Path) -> list[str]:
    """Mount points inside ``rootfs`` (debootstrap mounts /proc and /sys while it works)."""
    prefix = str(rootfs.resolve()) + "/"
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
        if point.startswith(prefix):
            points.append(point)
    return sorted(points, key=len, reverse=True)


def _remove_rootfs(rootfs: Path, log: Log) -> None:
    """Remove the root fs (root-owned, with device files), never crossing into a mount."""
    for point in _mounts_under(rootfs):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    result = subprocess.run(
        ["rm", "-rf", "--one-file-system", "--", str(rootfs)],
        check=False,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        log(f"stack: could not remove {rootfs} completely: {result.stderr.strip()}")
