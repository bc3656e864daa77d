"""vars_plugins/teletreball_group_vars: the staff directory is data, the rest of
group_vars stays as ansible-core's host_group_vars reads it."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest
import yaml
from ansible.inventory.group import Group
from ansible.inventory.host import Host
from ansible.parsing.dataloader import DataLoader
from ansible.template import is_trusted_as_template

REPO = pathlib.Path(__file__).resolve().parents[2]


def plugin():
    spec = importlib.util.spec_from_file_location(
        "teletreball_group_vars", REPO / "vars_plugins" / "teletreball_group_vars.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.VarsModule()


def group_vars(tmp_path, files, entity=None):
    for name, data in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    (tmp_path / "hosts.yml").write_text("all: {}\n")
    return plugin().get_vars(DataLoader(), str(tmp_path / "hosts.yml"),
                             [entity or Group("all")], cache=False)


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


PERSON = {"username": "nuria", "name": "{{ lookup('pipe', 'id') }}",
          "department": "{% if true %}OAC{% endif %}", "groups": ["staff"]}


def test_every_text_of_the_staff_is_data_and_the_file_is_named(tmp_path):
    result = group_vars(tmp_path, {"group_vars/all/staff.yml": {
        "teletreball_staff": [PERSON], "teletreball_domain": "{{ 'x' }}.test"}})
    assert result["teletreball_staff"] == [PERSON]
    assert not any(is_trusted_as_template(text) for text in strings(result["teletreball_staff"]))
    assert result["teletreball_staff_inert"] == str(tmp_path / "group_vars/all/staff.yml")
    # The council's own settings in the same file stay templates.
    assert is_trusted_as_template(result["teletreball_domain"])


def test_a_staff_expression_is_left_to_ansible(tmp_path):
    result = group_vars(tmp_path, {"group_vars/all.yml": {
        "teletreball_staff": "{{ people_a + people_b }}"}})
    assert is_trusted_as_template(result["teletreball_staff"])
    assert "teletreball_staff_inert" not in result
    assert result["teletreball_staff_expression"] == str(tmp_path / "group_vars/all.yml")


def test_a_later_expression_replaces_an_earlier_list(tmp_path):
    result = group_vars(tmp_path, {
        "group_vars/all/a.yml": {"teletreball_staff": [PERSON]},
        "group_vars/all/b.yml": {"teletreball_staff": "{{ people }}"}})
    assert result["teletreball_staff"] == "{{ people }}"
    assert "teletreball_staff_inert" not in result
    assert result["teletreball_staff_expression"].endswith("b.yml")


@pytest.mark.parametrize("layout", ["group_vars/all.yml", "group_vars/all/people.yml"])
def test_files_without_a_staff_list_load_as_host_group_vars_does(tmp_path, layout):
    result = group_vars(tmp_path, {layout: {"baseline_banner": "{{ council }}", "n": 3}})
    assert result == {"baseline_banner": "{{ council }}", "n": 3}
    assert is_trusted_as_template(result["baseline_banner"])


def test_host_vars_are_read_too(tmp_path):
    result = group_vars(tmp_path, {"host_vars/pbx1.yml": {"teletreball_staff": [PERSON]}},
                        entity=Host("pbx1"))
    assert not is_trusted_as_template(result["teletreball_staff"][0]["name"])
    assert result["teletreball_staff_inert"].endswith("host_vars/pbx1.yml")


def test_the_staff_of_a_later_file_is_read_from_that_file(tmp_path):
    later = dict(PERSON, username="pere")
    result = group_vars(tmp_path, {
        "group_vars/all/a.yml": {"teletreball_staff": [PERSON]},
        "group_vars/all/b.yml": {"teletreball_staff": [later]}})
    assert result["teletreball_staff"] == [later]
    assert result["teletreball_staff_inert"].endswith("b.yml")
