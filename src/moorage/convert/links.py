"""Symbolic links in the input tree: never followed out of it.

A chart or manifest folder from elsewhere may hold ``link -> /root/secret-file``; whoever runs
``k8s:import`` (often root, on the platform's host) would otherwise read that file and turn
it into a config var. Links out of the input tree and links to folders (which may loop) are
left out, each named by a finding; links to files inside the tree are read as those files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from moorage.convert.model import Finding, Source


def _skipped(path: Path, real_root: str) -> bool:
    if path.is_symlink() and path.is_dir():
        return True
    target = os.path.realpath(path)
    return target != real_root and not target.startswith(real_root + os.sep)


def outside_links(root: Path) -> list[Path]:
    """Links under ``root`` that are left out: to outside it, or to a folder."""
    real_root = os.path.realpath(root)
    found = []
    for folder, dirs, files in os.walk(root):  # os.walk does not enter linked folders
        for name in [*dirs, *files]:
            path = Path(folder, name)
            if path.is_symlink() and _skipped(path, real_root):
                found.append(path)
    return sorted(found)


def link_finding(link: Path, base: Path) -> Finding:
    label = os.path.relpath(link, base)
    return Finding(
        "warning",
        Source(label, 0, "(symlink)", link.name),
        f"{label} is a symbolic link to a folder or to outside the folder being converted, "
        "so it was not read.",
        "Copy the file it points to into the chart or folder if the app needs it.",
    )


@contextmanager
def without_links(root: Path, links: list[Path]) -> Iterator[Path]:
    """``root`` itself when it has no such link, else a copy of it without them (links to
    files inside it copied as the files), removed afterwards."""
    if not links:
        yield root
        return
    real_root = os.path.realpath(root)

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if _skipped(Path(folder, n), real_root)]

    with tempfile.TemporaryDirectory(prefix="moorage-chart-") as tmp:
        copy = Path(tmp) / root.name
        shutil.copytree(root, copy, symlinks=False, ignore=ignore)
        yield copy
