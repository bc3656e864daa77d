"""Every role documents its public variables in meta/argument_specs.yml.

For each role in roles/: the keys of defaults/main.yml are exactly the options
of the entry point ``main`` of meta/argument_specs.yml, each option has a type
and a description, and a default written in the spec equals the one in
defaults/main.yml.
"""

from __future__ import annotations

import pathlib

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
ROLES = sorted(
    path
    for path in (REPO / "roles").glob("*")
    if (path / "defaults" / "main.yml").exists() or (path / "meta" / "argument_specs.yml").exists()
)


def load(path: pathlib.Path):
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def main_options(role: pathlib.Path) -> dict:
    spec_file = role / "meta" / "argument_specs.yml"
    assert spec_file.exists(), f"{role.name}: meta/argument_specs.yml is missing"
    specs = load(spec_file).get("argument_specs", {})
    assert "main" in specs, f"{role.name}: argument_specs has no entry point 'main'"
    return specs["main"].get("options") or {}


def defaults(role: pathlib.Path) -> dict:
    path = role / "defaults" / "main.yml"
    return load(path) if path.exists() else {}


@pytest.mark.parametrize("role", ROLES, ids=lambda path: path.name)
def test_defaults_and_argument_specs_have_the_same_variables(role):
    options = set(main_options(role))
    variables = set(defaults(role))
    assert variables - options == set(), "defaults without an argument spec"
    assert options - variables == set(), "argument specs without a default"


@pytest.mark.parametrize("role", ROLES, ids=lambda path: path.name)
def test_every_option_has_a_type_and_a_description(role):
    for name, option in main_options(role).items():
        assert isinstance(option, dict), name
        assert option.get("type"), f"{name} has no type"
        description = option.get("description")
        if isinstance(description, list):
            description = " ".join(str(part) for part in description)
        assert isinstance(description, str), f"{name} has no description"
        assert description.strip(), f"{name} has an empty description"


@pytest.mark.parametrize("role", ROLES, ids=lambda path: path.name)
def test_defaults_written_in_the_spec_match_defaults_main(role):
    values = defaults(role)
    for name, option in main_options(role).items():
        if "default" in option and name in values:
            assert option["default"] == values[name], name
