"""The preflight against real inventories, run as the IT team would run it.

* inventories/lab and inventories/example pass (in check mode: nothing written);
* each broken inventory of broken_inventories.yml makes playbooks/site.yml stop
  with its message before any host is contacted (the only host of the broken
  inventories is an address nobody answers, so contacting it would show);
* offboarding one person leaves every other person's addresses and secrets as
  they were;
* with the VPN gateway keeping each device's address, a host without a route
  to the VPN pool stops the preflight, named.
"""

from __future__ import annotations

import copy
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

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


@pytest.mark.control("TT-DIR-01")
@pytest.mark.parametrize("routed_by_router", [False, True])
def test_a_host_without_a_route_to_the_vpn_pool_is_named(tmp_path, routed_by_router):
    """VPN-ADDR-01: the devices keep their own addresses, so each host must route
    the pool back to the gateway (baseline_routes), unless the router does."""
    data = lab_data(tmp_path / "credentials")
    inventory = make_inventory(tmp_path / "inventory", data)
    hosts = copy.deepcopy(HOSTS)
    gateway = {"ansible_host": "192.0.2.2", "ansible_connection": "ssh",
               "baseline_routes_traffic": True, "vpn_pool_routed_by_router": routed_by_router}
    routed = {"ansible_host": "192.0.2.3", "ansible_connection": "ssh",
              "baseline_routes": [{"to": "10.89.64.0/23", "via": "10.89.10.11"}]}
    hosts["all"]["children"]["vpn_gateways"] = {"hosts": {"gateway-never-contacted": gateway}}
    hosts["all"]["children"]["repository"] = {"hosts": {"routed-never-contacted": routed}}
    inventory.write_text(yaml.safe_dump(hosts))
    result = ansible_playbook(inventory, "preflight.yml", "--check")
    output = " ".join((result.stdout + result.stderr).split())
    assert "UNREACHABLE" not in output, output
    message = ("route the VPN pool 10.89.64.0/24 back to it. No route to it in baseline_routes: "
               "never-contacted. Add {to: 10.89.64.0/24, via: <the gateway's inside address>}")
    if routed_by_router:
        assert result.returncode == 0, output
        assert message not in output
    else:
        assert result.returncode != 0 and message in output, output
        assert not (tmp_path / "credentials").exists(), "the failed run wrote credentials"


def test_a_template_in_the_directory_is_text(tmp_path):
    """Issue 18: a {{ }} or {% %} in a person's field is her text, never run."""
    marker = tmp_path / "pwned"
    credentials = tmp_path / "credentials"
    data = lab_data(credentials)
    name = "{{ lookup('pipe', 'touch " + str(marker) + "') }}"
    department = "{% for x in range(3) %}OAC{% endfor %} {# HR #}"
    data["teletreball_staff"][0].update(name=name, department=department)
    # And an ordinary name, exactly as written, in the pack (issue 18).
    real_name = "Núria D'Amat i Pérez-Soler"
    data["teletreball_staff"][1].update(name=real_name, department="Secretaria, Registre i Arxiu")
    inventory = make_inventory(tmp_path / "inventory", data)
    result = ansible_playbook(inventory, "preflight.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not marker.exists(), "a lookup in a name ran on the controller"
    account = json.loads((credentials / "people" / "nuria" / "account.json").read_text())
    assert (account["name"], account["department"]) == (name, department)
    # In Markdown, the braces and the # are text; the name is as written otherwise.
    readme = (credentials / "people" / "nuria" / "README.md").read_text(encoding="utf-8")
    assert "- Departament: {% for x in range(3) %}OAC{% endfor %} {\\# HR \\#}" in readme
    pere = (credentials / "people" / "pere" / "README.md").read_text(encoding="utf-8")
    assert f"· {real_name}\n" in pere
    assert "- Department: Secretaria, Registre i Arxiu\n" in pere


@pytest.mark.control("TT-DIR-01")
def test_a_directory_outside_group_vars_is_refused_unread(tmp_path):
    """Only group_vars files are read as data: elsewhere the preflight stops
    before the directory is read, so the lookup runs nothing."""
    marker = tmp_path / "pwned"
    data = lab_data(tmp_path / "credentials")
    data["teletreball_staff"][0]["name"] = "{{ lookup('pipe', 'touch " + str(marker) + "') }}"
    staff = data.pop("teletreball_staff")
    inventory = make_inventory(tmp_path / "inventory", data)
    hosts = yaml.safe_load(inventory.read_text())
    hosts["all"]["vars"] = {"teletreball_staff": staff}
    inventory.write_text(yaml.safe_dump(hosts, allow_unicode=True))
    result = ansible_playbook(inventory, "site.yml")
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    assert "teletreball_staff must be in a file of the inventory's group_vars/" in output
    assert not marker.exists(), "a lookup in a name ran on the controller"
    assert not (tmp_path / "credentials").exists()


# --- the audit's checks of the directory on the controller (playbooks/audit.yml) ------------

def audit_controller(inventory, folder):
    """The outcomes of TT-DIR-01, TT-EXT-01 and TT-SEC-01 as playbooks/audit.yml checks them
    on the controller: {id: outcome}."""
    outcomes = folder / "audit-outcomes.json"
    outcomes.unlink(missing_ok=True)
    result = ansible_playbook(inventory, "../tests/preflight/audit_controller.yml",
                              "-e", f"audit_outcomes_file={outcomes}")
    assert result.returncode == 0, result.stdout + result.stderr
    return {item["id"]: item for item in json.loads(outcomes.read_text())}


def failed_requirements(outcome):
    return [finding["requirement"] for finding in outcome["findings"] if not finding["ok"]]


@pytest.mark.control("TT-DIR-01")
def test_the_audit_reads_the_directory_as_data_and_names_control_characters(tmp_path):
    """The audit's checks after a real preflight: a lookup in a name stays text there too;
    a bidirectional override added to a department since, a loose credentials file and an
    extension nobody recorded are each a FAIL with what is wrong."""
    marker = tmp_path / "pwned"
    credentials = tmp_path / "credentials"
    data = lab_data(credentials)
    data["teletreball_staff"][0]["name"] = "{{ lookup('pipe', 'touch " + str(marker) + "') }}"
    inventory = make_inventory(tmp_path / "inventory", data)
    result = ansible_playbook(inventory, "preflight.yml")
    assert result.returncode == 0, result.stdout + result.stderr

    outcomes = audit_controller(inventory, tmp_path)
    assert {key: item["status"] for key, item in outcomes.items()} == {
        "TT-DIR-01": "PASS", "TT-EXT-01": "PASS", "TT-SEC-01": "PASS"}, outcomes
    assert not marker.exists(), "a lookup in a name ran in the audit"

    data["teletreball_staff"][1]["department"] = "Secretaria \u202eairaterceS"
    data["teletreball_staff"][2]["extension"] = 2098
    (tmp_path / "inventory" / "group_vars" / "all" / "staff.yml").write_text(
        yaml.safe_dump(data, allow_unicode=True))
    loose = next(path for path in (credentials / "people").rglob("*") if path.is_file())
    loose.chmod(0o644)
    outcomes = audit_controller(inventory, tmp_path)
    assert failed_requirements(outcomes["TT-DIR-01"]) == [
        "no name or department holds a control or invisible character",
        "the directory passes the preflight's validation"]
    assert "department holds U+202E" in json.dumps(outcomes["TT-DIR-01"]["findings"])
    assert failed_requirements(outcomes["TT-EXT-01"]) == [
        "every extension of the directory is recorded with its holder"]
    assert failed_requirements(outcomes["TT-SEC-01"]) == [
        "every folder in it is 0700 and every file 0600 (no secret readable by others)"]
    assert not marker.exists(), "a lookup in a name ran in the audit"


@pytest.mark.control("TT-DIR-01")
def test_the_audit_refuses_a_directory_outside_group_vars_unread(tmp_path):
    marker = tmp_path / "pwned"
    data = lab_data(tmp_path / "credentials")
    data["teletreball_staff"][0]["name"] = "{{ lookup('pipe', 'touch " + str(marker) + "') }}"
    staff = data.pop("teletreball_staff")
    inventory = make_inventory(tmp_path / "inventory", data)
    hosts = yaml.safe_load(inventory.read_text())
    hosts["all"]["vars"] = {"teletreball_staff": staff}
    inventory.write_text(yaml.safe_dump(hosts, allow_unicode=True))
    outcome = audit_controller(inventory, tmp_path)["TT-DIR-01"]
    assert failed_requirements(outcome) == [
        "teletreball_staff comes from group_vars, read as data by the vars plugin"], outcome
    assert not marker.exists(), "a lookup in a name ran in the audit"


# --- one run at a time per credentials folder (teletreball_run_lock) ----------------------


def start_playbook(inventory, playbook, *extra):
    """ansible-playbook started in the background, in a process group of its own."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="0")
    bindir = pathlib.Path(sys.executable).parent
    return subprocess.Popen(
        [str(bindir / "ansible-playbook"), "-i", str(inventory),
         str(REPO / "playbooks" / playbook), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO,
        start_new_session=True,
    )


def wait_for_lock(lock, process, timeout=60):
    """The content of the lock once ``process`` holds it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            holder = json.loads(lock.read_text())
        except (FileNotFoundError, ValueError):
            holder = {}
        if holder.get("pid") == process.pid:
            return holder
        time.sleep(0.1)
    raise AssertionError(f"{lock} was not taken by process {process.pid}")


def test_a_second_run_waits_for_the_first_or_stops_naming_it(tmp_path):
    credentials = tmp_path / "credentials"
    lock = tmp_path / "credentials.lock"
    inventory = make_inventory(tmp_path / "inventory", lab_data(credentials))
    first = start_playbook(inventory, "preflight.yml")
    try:
        holder = wait_for_lock(lock, first)
        # The first run is stopped while it holds the lock, so the second one surely
        # meets it (a preflight takes a few seconds).
        os.kill(first.pid, signal.SIGSTOP)
        assert holder["playbooks"] == [str(REPO / "playbooks" / "preflight.yml")]
        assert holder["user"] and holder["host"] and holder["started"].endswith("UTC")

        stopped = ansible_playbook(inventory, "preflight.yml",
                                   "-e", "teletreball_run_lock_timeout=0")
        output = " ".join((stopped.stdout + stopped.stderr).split())
        assert stopped.returncode != 0, output
        assert (f"Another run is using the credentials folder {credentials}: process "
                f"{first.pid} of user {holder['user']} on {holder['host']}, started "
                f"{holder['started']}, running {REPO / 'playbooks' / 'preflight.yml'}") in output
        assert json.loads(lock.read_text())["pid"] == first.pid, "the lock changed hands"

        waiting = start_playbook(inventory, "preflight.yml", "-v",
                                 "-e", "teletreball_run_lock_timeout=120")
        # Until it reaches the lock (the plays before it take longer on a busy machine),
        # then a few seconds of waiting.
        seen = []
        while not seen or "Wait for any other run on this credentials folder" not in seen[-1]:
            line = waiting.stdout.readline()
            assert line, "the second run ended before the lock: " + "".join(seen)
            seen.append(line)
        time.sleep(4)
        assert waiting.poll() is None, "the second run did not wait: " + waiting.communicate()[0]
        os.kill(first.pid, signal.SIGCONT)
        first_output = first.communicate(timeout=120)[0]
        assert first.returncode == 0, first_output
        second_output = "".join(seen) + waiting.communicate(timeout=120)[0]
        assert waiting.returncode == 0, second_output
        waited = re.search(r"^ *waited: ([0-9.]+)$", second_output, re.M)
        assert waited and float(waited.group(1)) >= 2, second_output
    finally:
        for process in (first,):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    # Both ran the whole preflight, one after the other: one address per device.
    addresses = json.loads((credentials / "vpn-addresses.json").read_text())["allocations"]
    values = [entry["address"] for entry in addresses.values()]
    assert len(values) == len(set(values))
    assert not lock.exists(), "the lock outlived the runs"


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path):
    credentials = tmp_path / "credentials"
    lock = tmp_path / "credentials.lock"
    inventory = make_inventory(tmp_path / "inventory", lab_data(credentials))
    killed = start_playbook(inventory, "preflight.yml")
    holder = wait_for_lock(lock, killed)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    assert json.loads(lock.read_text())["pid"] == holder["pid"], "the killed run left no lock"

    result = ansible_playbook(inventory, "preflight.yml", "-e", "teletreball_run_lock_timeout=0")
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 0, output
    assert (f"Took over the lock {lock} of a run that no longer exists: process "
            f"{holder['pid']} of user {holder['user']}, started {holder['started']}") in output
    assert (credentials / "vpn-addresses.json").exists()
    assert not lock.exists()


# --- the controller's state: a recorded id, an inventory given with -i, no copied example --


def without_inventory(playbook, *extra):
    """ansible-playbook with no -i (and no ANSIBLE_INVENTORY), as a mistaken run would be."""
    env = {key: value for key, value in os.environ.items() if key != "ANSIBLE_INVENTORY"}
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="0")
    bindir = pathlib.Path(sys.executable).parent
    return subprocess.run(
        [str(bindir / "ansible-playbook"), str(REPO / "playbooks" / playbook), *extra],
        capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=300,
    )


def test_a_run_without_an_inventory_stops_naming_the_option():
    """ansible.cfg names no inventory: a run without -i stops in the preflight."""
    result = without_inventory("site.yml")
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    assert "No inventory: run with -i inventories/<council>" in output, output
    assert not (REPO / "credentials" / "lab.lock").exists()


def test_a_copied_example_inventory_keeps_no_example_credentials(tmp_path):
    """inventories/example copied as it is: its credentials folder is the example's."""
    copy_dir = tmp_path / "inventories" / "ajuntament"
    shutil.copytree(REPO / "inventories" / "example", copy_dir)
    result = ansible_playbook(copy_dir, "preflight.yml", "--check")
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    assert (f"The inventory {copy_dir} is a copy of inventories/example, but its "
            "teletreball_credentials_dir still is the example's folder "
            f"({REPO / 'credentials' / 'example'}). Set teletreball_credentials_dir") in output
    assert "/credentials/ajuntament" in output, output
    # With its own folder, the copy passes.
    staff = copy_dir / "group_vars" / "all" / "staff.yml"
    staff.write_text(staff.read_text(encoding="utf-8").replace(
        '/credentials/example"', '/credentials/ajuntament"'), encoding="utf-8")
    result = ansible_playbook(copy_dir, "preflight.yml", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def write_staff(inventory, data):
    (inventory.parent / "group_vars" / "all" / "staff.yml").write_text(
        yaml.safe_dump(data, allow_unicode=True))


def test_a_recorded_state_id_refuses_a_missing_or_other_credentials_folder(tmp_path):
    credentials = tmp_path / "credentials"
    data = lab_data(credentials)
    data["teletreball_state_id"] = ""
    inventory = make_inventory(tmp_path / "inventory", data)

    # Check mode writes no id.
    checked = ansible_playbook(inventory, "preflight.yml", "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not (credentials / "state-id").exists()

    # The first real run writes it (0600) and gives the line to add.
    first = ansible_playbook(inventory, "preflight.yml")
    assert first.returncode == 0, first.stdout + first.stderr
    state_id = (credentials / "state-id").read_text().strip()
    assert (credentials / "state-id").stat().st_mode & 0o777 == 0o600
    output = " ".join((first.stdout + first.stderr).split())
    assert f"add the line 'teletreball_state_id: {state_id}' to the inventory" in output, output

    # Recorded, with its folder: passes, without the warning.
    data["teletreball_state_id"] = state_id
    write_staff(inventory, data)
    recorded = ansible_playbook(inventory, "preflight.yml")
    output = " ".join((recorded.stdout + recorded.stderr).split())
    assert recorded.returncode == 0, output
    assert "is not recorded in the inventory" not in output, output

    # Another folder's id: refused, naming both.
    (credentials / "state-id").write_text("20250101-00000000000000aa\n")
    other = ansible_playbook(inventory, "preflight.yml")
    output = " ".join((other.stdout + other.stderr).split())
    assert other.returncode != 0, output
    assert (f"The credentials folder {credentials} holds another state: its state-id is "
            f"'20250101-00000000000000aa', but the inventory records teletreball_state_id: "
            f"{state_id} (found: 20250101-00000000000000aa).") in output, output
    assert (credentials / "state-id").read_text() == "20250101-00000000000000aa\n"

    # The folder missing (a job without its volume): site.yml stops before any host,
    # before the lock, and makes no folder.
    credentials.rename(tmp_path / "elsewhere")
    missing = ansible_playbook(inventory, "site.yml")
    output = " ".join((missing.stdout + missing.stderr).split())
    assert missing.returncode != 0, output
    assert (f"The credentials folder {credentials} is missing, but the inventory records "
            f"teletreball_state_id: {state_id} (found: none).") in output, output
    assert "set TELETREBALL_STATE_DIR" in output and "playbooks/restore.yml" in output
    assert "UNREACHABLE" not in output
    assert not credentials.exists() and not (tmp_path / "credentials.lock").exists()

    # An empty folder (an empty volume) likewise.
    credentials.mkdir()
    empty = ansible_playbook(inventory, "preflight.yml", "--check")
    output = " ".join((empty.stdout + empty.stderr).split())
    assert empty.returncode != 0 and f"The credentials folder {credentials} is empty" in output
    assert list(credentials.iterdir()) == []
