"""Load a script a role installs (roles/<role>/files/<name>.py) as a Python module, and
check how it refuses a wrong command line.

On the hosts the scripts have no .py extension (/usr/local/sbin/teletreball-...);
the loader is given explicitly so that the same code loads such a file too.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import pathlib

import pytest

ROLES = pathlib.Path(__file__).resolve().parents[2] / "roles"


def script_path(role, name):
    return ROLES / role / "files" / f"{name}.py"


def load_script(path, module_name=None):
    """The file at path as a fresh module (its ``if __name__ == "__main__"`` part does not run)."""
    path = pathlib.Path(path)
    module_name = module_name or "tt_script_" + path.name.removesuffix(".py").replace("-", "_")
    loader = importlib.machinery.SourceFileLoader(module_name, str(path))
    spec = importlib.util.spec_from_file_location(module_name, str(path), loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def load_role_script(role, name):
    return load_script(script_path(role, name))


def usage_error(script, argv, capsys):
    """What ``script.main(argv)`` prints on standard error when it refuses the command
    line, as argparse does (exit status 2; the test fails on any other)."""
    with pytest.raises(SystemExit) as exit_info:
        script.main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err
