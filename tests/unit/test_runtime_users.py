"""A dyno's user: the image's USER resolved in its own files, root in no form (item 5)."""

from __future__ import annotations

import io
import tarfile

import pytest

from moorage.runtime.users import UNPRIVILEGED_USER, dyno_user, names_needed, read_from_tar

PASSWD = "root:x:0:0:root:/root:/bin/sh\ntoor:x:0:0::/:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n"
GROUP = "root:x:0:\nwheel:x:10:app\napp:x:1000:\n"


@pytest.mark.parametrize(
    "user",
    ["", "root", "0", "0:0", "root:root", "0:root", "toor", "app:root", "app:0", "1000:0",
     "ghost", "app:ghost", " root "],
)  # fmt: skip
def test_root_in_any_form_and_unknown_names_run_as_nobody(user: str) -> None:
    assert dyno_user(user, PASSWD, GROUP) == UNPRIVILEGED_USER


@pytest.mark.parametrize(
    ("user", "expected"),
    [("app", "1000:1000"), ("app:wheel", "1000:10"), ("1000", "1000:1000"),
     ("4242", "4242:4242"), ("4242:10", "4242:10"), ("1000:wheel", "1000:10")],
)  # fmt: skip
def test_other_users_resolve_to_numbers(user: str, expected: str) -> None:
    assert dyno_user(user, PASSWD, GROUP) == expected


def test_names_need_the_images_files_numbers_do_not() -> None:
    assert names_needed("app") and names_needed("0:root") and names_needed("toor")
    assert not names_needed("1000:1000") and not names_needed("") and not names_needed("0")


def test_a_file_is_read_from_a_docker_archive() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("passwd")
        info.size = len(PASSWD)
        tar.addfile(info, io.BytesIO(PASSWD.encode()))
    assert read_from_tar(buf.getvalue()) == PASSWD
    assert read_from_tar(b"not a tar") == ""
