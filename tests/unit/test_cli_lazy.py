"""``moor`` imports a command's module only when it runs; the table in main.py is complete."""

from __future__ import annotations

import importlib
import subprocess
import sys

from click.testing import CliRunner

from moorage.cli.base import cli
from moorage.main import MODULES


def test_the_table_names_every_command_of_every_module() -> None:
    for module in MODULES:
        importlib.import_module(module)
    for module, names in MODULES.items():
        defined = {
            name
            for name, command in cli.commands.items()
            if command.callback is not None and command.callback.__module__ == module
        }
        assert defined == set(names), module


def test_a_command_loads_only_its_module() -> None:
    code = (
        "import sys; from moorage.main import cli\n"
        "try: cli(['apps', '--help'])\n"
        "except SystemExit: pass\n"
        "print(' '.join(m for m in sys.modules if m.startswith(('moorage.cli.', 'moorage.convert',"
        " 'yaml', 'docker'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split("\n")[-2].split())
    assert "moorage.cli.apps" in loaded
    assert not loaded & {"moorage.cli.container", "moorage.cli.pg", "yaml", "docker"}, loaded


def test_help_lists_every_command_once() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.splitlines() if line.startswith("  ")]
    assert "apps:create" in listed and "k8s:import" in listed
    assert len(listed) == len(set(listed))


def test_a_client_command_loads_no_unused_http_command_line_or_plugins() -> None:
    code = (
        "import sys; from moorage.main import main\n"
        "sys.argv = ['moor', 'apps', '--help']\n"
        "try: main()\n"
        "except SystemExit: pass\n"
        "import pydantic.plugin._loader as plugins\n"
        "print('httpx' in sys.modules, 'httpx._main' in sys.modules and sys.modules['httpx._main'],"
        " 'pygments' in sys.modules, plugins.get_plugins())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-2] == "True None False ()", out.stdout
