"""Load one of our modules (library/) and run its main() in-process, reading its JSON result;
keep it from running commands or looking up programs on this machine, collect its warnings."""

from __future__ import annotations

import importlib
import importlib.util
import json
import pathlib
import sys

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

REPO = pathlib.Path(__file__).resolve().parents[2]
LIBRARY = REPO / "library"
MODULE_UTILS = REPO / "module_utils"


def register_module_utils():
    """Every module_utils/<name>.py importable as ansible.module_utils.<name>, as Ansible
    ships them with a module; the same Python module as ``import <name>``."""
    if str(MODULE_UTILS) not in sys.path:
        sys.path.insert(0, str(MODULE_UTILS))
    # The checks of the audit import other module_utils files: those first.
    for path in sorted(MODULE_UTILS.glob("*.py"),
                       key=lambda path: (path.stem.startswith("teletreball_checks_"), path.stem)):
        sys.modules.setdefault(f"ansible.module_utils.{path.stem}",
                               importlib.import_module(path.stem))


def load_library_module(name):
    """library/<name>.py as a fresh Python module, our module_utils registered first."""
    register_module_utils()
    spec = importlib.util.spec_from_file_location(f"tt_{name}", LIBRARY / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_main(module, args, capsys, check_mode=False):
    """The module's result dict, plus ``rc`` (exit status) and ``raw`` (its stdout)."""
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=True)
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        module.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    result["rc"] = exit_info.value.code
    result["raw"] = out
    return result


def refuse_commands(monkeypatch):
    """AnsibleModule.run_command fails the test (until a test puts a fake in its place)."""

    def refuse(self, args, **kwargs):
        raise AssertionError(f"a unit test tried to run {args}")

    monkeypatch.setattr(AnsibleModule, "run_command", refuse)


def fake_bin_paths(monkeypatch, folder="/usr/bin"):
    """AnsibleModule.get_bin_path finds every program in ``folder``, without looking."""
    monkeypatch.setattr(AnsibleModule, "get_bin_path",
                        lambda self, name, *args, **kwargs: f"{folder}/{name}")


def collect_warnings(monkeypatch):
    """The list that AnsibleModule.warn appends its texts to from now on (once controller
    code is imported, warnings would go to its display)."""
    collected = []
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, text, **kw: collected.append(text))
    return collected
