"""Every module of library/ and every plugin of ours carries DOCUMENTATION,
EXAMPLES and RETURN that parse as YAML, as ansible-doc needs them (a ": " in a
plain line of prose breaks it), and ansible-doc renders the modules."""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
MODULES = sorted((REPO / "library").glob("*.py"))
PLUGINS = sorted(path for folder in ("callback_plugins", "vars_plugins")
                 for path in (REPO / folder).glob("*.py"))


def documentation(path):
    """The module-level string constants DOCUMENTATION, EXAMPLES and RETURN."""
    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN")
                and isinstance(node.value, ast.Constant)):
            found[node.targets[0].id] = node.value.value
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.stem)
def test_a_module_documents_itself_in_valid_yaml(path):
    docs = documentation(path)
    assert set(docs) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}, path.name
    parsed = {name: yaml.safe_load(text) for name, text in docs.items()}
    assert parsed["DOCUMENTATION"]["module"] == path.stem
    assert parsed["DOCUMENTATION"]["short_description"]
    assert isinstance(parsed["EXAMPLES"], list) and parsed["EXAMPLES"]


@pytest.mark.parametrize("path", PLUGINS, ids=lambda path: path.stem)
def test_a_plugin_documentation_is_valid_yaml(path):
    docs = documentation(path)
    if "DOCUMENTATION" in docs:
        assert yaml.safe_load(docs["DOCUMENTATION"])["name"] == path.stem


def test_ansible_doc_renders_every_module():
    bindir = pathlib.Path(sys.executable).parent
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run(
        [str(bindir / "ansible-doc"), "-M", str(REPO / "library"),
         *[path.stem for path in MODULES]],
        capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=300)
    assert result.returncode == 0, result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert errors == []
    for path in MODULES:
        assert f"> MODULE {path.stem}" in result.stdout or path.stem in result.stdout
