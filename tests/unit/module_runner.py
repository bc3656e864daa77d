"""Run one of our Ansible modules' main() in-process and read its JSON result."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args


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
