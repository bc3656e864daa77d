"""The linters that `make test` runs must fail on a broken file.

Each test writes a small file that breaks one rule into a temporary copy of the
relevant configuration and runs the linter exactly as harness/run-tests does.
If someone turns a linter into warn-only mode, these tests fail.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent


def run(args: list[str], cwd: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)


def test_yamllint_fails_on_a_broken_rule(tmp_path):
    shutil.copy(REPO / ".yamllint", tmp_path / ".yamllint")
    (tmp_path / "bad.yml").write_text("---\nkey: yes\nkey: no  \n", encoding="utf-8")
    result = run([str(BIN / "yamllint"), "--strict", "."], tmp_path)
    assert result.returncode != 0, result.stdout
    assert "truthy" in result.stdout


def test_ruff_fails_on_a_broken_rule(tmp_path):
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "bad.py").write_text("import os\n", encoding="utf-8")
    result = run([str(BIN / "ruff"), "check", "."], tmp_path)
    assert result.returncode != 0, result.stdout
    assert "F401" in result.stdout


def test_ansible_lint_production_profile_fails_on_a_broken_rule(tmp_path):
    shutil.copy(REPO / ".ansible-lint", tmp_path / ".ansible-lint")
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    # Short module name instead of FQCN, no task name: both break the production profile.
    (playbooks / "bad.yml").write_text(
        "---\n- name: Bad\n  hosts: all\n  tasks:\n    - command: /bin/true\n",
        encoding="utf-8",
    )
    result = run([str(BIN / "ansible-lint"), "--profile", "production"], tmp_path)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "fqcn" in result.stdout + result.stderr
