"""Load one of our modules (library/) and run its main() in-process, reading its JSON result."""

from __future__ import annotations

import importlib.util
import json
import pathlib

import pytest
from ansible.module_utils.testing import patch_module_args

LIBRARY = pathlib.Path(__file__).resolve().parents[2] / "library"


def load_library_module(name):
    """library/<name>.py as a fresh Python module (the module_utils it imports
    must already be in sys.modules under ansible.module_utils)."""
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
