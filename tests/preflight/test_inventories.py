"""The preflight against real inventories, run as the IT team would run it.

* inventories/lab and inventories/example pass (in check mode: nothing written);
* each broken inventory of broken_inventories.yml makes playbooks/site.yml stop
  with its message before any host is contacted (the only host of the broken
  inventories is an address nobody answers, so contacting it would show);
* offboarding one person leaves every other person's addresses and secrets as
  they were.
"""

from __future__ import annotations

import copy
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
LAB_STAFF = REPO / "inventories" / "lab" / "group_vars" / "all" / "staff.yml"
CASES = yaml.safe_load((pathlib.Path(__file__).parent / "broken_inventories.yml").read_text())
# TEST-NET-1 (RFC 5737): never answers, so a contacted host would show up as UNREACHABLE.
# It is also a remote-desktop session host, a PBX and a chat server, so the checks of
# the service roles' settings in playbooks/preflight.yml apply to it.
HOSTS = {
    "all": {
        "hosts": {
            "never-contacted": {
                "ansible_host": "192.0.2.1",
                "ansible_connection": "ssh",
                "ansible_ssh_common_args": "-o ConnectTimeout=2",
            }
        },
        "children": {
            "vdi_hosts": {"hosts": {"never-contacted": {}}},
            "pbx_servers": {"hosts": {"never-contacted": {}}},
            "conference_servers": {"hosts": {"never-contacted": {}}},
        },
    }
}


def ansible_playbook(inventory, playbook, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="0")
    bindir = pathlib.Path(sys.executable).parent
    return subprocess.run(
        [str(bindir / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / playbook),
         *extra],
        capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=300,
    )


def make_inventory(folder, data):
    (folder / "group_vars" / "all").mkdir(parents=True)
    (folder / "hosts.yml").write_text(yaml.safe_dump(HOSTS))
    staff_file = folder / "group_vars" / "all" / "staff.yml"
    staff_file.write_text(yaml.safe_dump(data, allow_unicode=True))
    return folder / "hosts.yml"


def lab_data(credentials):
    data = yaml.safe_load(LAB_STAFF.read_text(encoding="utf-8"))
    data["teletreball_credentials_dir"] = str(credentials)
    # This inventory has one session host of another name: the hash picks it.
    for person in data["teletreball_staff"]:
        person.pop("desktop_host", None)
    return data


@pytest.mark.parametrize("inventory", ["lab", "example"])
def test_shipped_inventories_pass_the_preflight(inventory):
    result = ansible_playbook(REPO / "inventories" / inventory / "hosts.yml", "preflight.yml",
                              "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed=0" in result.stdout


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda case: case["name"])
def test_broken_inventory_stops_before_any_host(case, tmp_path):
    data = lab_data(tmp_path / "credentials")
    if "person" in case:
        data["teletreball_staff"][case["person"]].update(case["fields"])
    data.update(copy.deepcopy(case.get("vars", {})))
    inventory = make_inventory(tmp_path / "inventory", data)
    result = ansible_playbook(inventory, "site.yml")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    expected = case["expect"] if isinstance(case["expect"], list) else [case["expect"]]
    for part in expected:
        assert " ".join(part.split()) in " ".join(output.split()), output
    # The checks of the service roles' settings name the host but only run asserts,
    # which never connect: a contact attempt would be UNREACHABLE.
    assert "UNREACHABLE" not in output and "unreachable=1" not in output, (
        "a host was contacted:\n" + output)
    assert not re.search(r"never-contacted\s+: ok=\d+\s+changed=[1-9]", output), output
    assert not (tmp_path / "credentials").exists(), "the failed run wrote credentials"


def read_tree(folder):
    return {
        str(path.relative_to(folder)): path.read_text()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_offboarding_one_person_changes_nobody_else(tmp_path):
    credentials = tmp_path / "credentials"
    data = lab_data(credentials)
    inventory = make_inventory(tmp_path / "inventory", data)
    first = ansible_playbook(inventory, "preflight.yml")
    assert first.returncode == 0, first.stdout + first.stderr
    before_addresses = json.loads((credentials / "vpn-addresses.json").read_text())
    before_people = read_tree(credentials / "people")

    assert data["teletreball_staff"][1]["username"] == "pere"
    data["teletreball_staff"][1]["state"] = "absent"
    (tmp_path / "inventory" / "group_vars" / "all" / "staff.yml").write_text(
        yaml.safe_dump(data, allow_unicode=True))
    second = ansible_playbook(inventory, "preflight.yml")
    assert second.returncode == 0, second.stdout + second.stderr
    after_addresses = json.loads((credentials / "vpn-addresses.json").read_text())
    after_people = read_tree(credentials / "people")

    kept = {k: v for k, v in before_addresses["allocations"].items() if not k.startswith("pere/")}
    assert after_addresses["allocations"] == kept
    assert {e["device"] for e in after_addresses["released"].values()} == {
        "pere/laptop", "pere/phone"}
    assert {k: v for k, v in before_people.items() if not k.startswith("pere/")} == after_people
    archived = list((credentials / "archive").iterdir())
    assert [p.name.split("-")[0] for p in archived] == ["pere"]
    assert (archived[0] / "sip-password").read_text() == before_people["pere/sip-password"]
    # The extension pere leaves is in quarantine: given to a newcomer, the run stops
    # before any host, naming her, the field, pere and the date (issue 18 D).
    newcomer = dict(data["teletreball_staff"][0], username="pau", name="Pau Roca",
                    email="pau@lab.teletreball.test", extension=2002, vpn_devices=[])
    data["teletreball_staff"].append(newcomer)
    write = (tmp_path / "inventory" / "group_vars" / "all" / "staff.yml").write_text
    write(yaml.safe_dump(data, allow_unicode=True))
    refused = ansible_playbook(inventory, "preflight.yml")
    assert refused.returncode != 0
    assert re.search(
        r"teletreball_staff\[\d+\] \(pau\): extension 2002 is in quarantine until "
        r"\d{4}-\d\d-\d\d: it was pere's until \d{4}-\d\d-\d\d", refused.stdout), refused.stdout
    assert "192.0.2.1" not in refused.stdout
    # The username laia given to another person (another e-mail): her folder, with
    # her secrets, is archived and the newcomer gets new ones.
    data["teletreball_staff"].pop()
    laia = next(p for p in data["teletreball_staff"] if p["username"] == "laia")
    laia.update(name="Laia Serra", email="laia.serra@lab.teletreball.test")
    write(yaml.safe_dump(data, allow_unicode=True))
    third = ansible_playbook(inventory, "preflight.yml")
    assert third.returncode == 0, third.stdout + third.stderr
    old_laia = [p for p in (credentials / "archive").iterdir() if p.name.startswith("laia-")]
    assert len(old_laia) == 1
    assert (old_laia[0] / "desktop-password").read_text() == before_people["laia/desktop-password"]
    assert (credentials / "people" / "laia" / "desktop-password").read_text() != (
        before_people["laia/desktop-password"])
    state = json.loads((credentials / "vpn-addresses.json").read_text())
    assert state["version"] == 2
    assert state["extensions"]["released"]["2002"]["username"] == "pere"
    assert set(state["people"]) >= {"pere", "laia", "nuria"}
