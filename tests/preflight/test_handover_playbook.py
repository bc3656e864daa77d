"""playbooks/welcome_packs.yml on the controller, as site.yml runs it last: the lab's
staff in a fresh credentials folder, VPN profiles and a CA as the roles vpn and pki
leave them; every present person gets her handover, a no-change run changes
nothing, and no host is contacted."""

from __future__ import annotations

import hashlib
import pathlib
import re
import subprocess

from test_inventories import ansible_playbook, lab_data, make_inventory

WELCOME_PACKS = str(pathlib.Path(__file__).resolve().parents[2] / "playbooks" / "welcome_packs.yml")
PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", re.S)


def tree(folder):
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_every_person_gets_a_handover_and_a_second_run_changes_nothing(tmp_path):
    credentials = tmp_path / "credentials"
    data = lab_data(credentials)
    inventory = make_inventory(tmp_path / "inventory", data)
    result = ansible_playbook(inventory, "preflight.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    # What the roles pki and vpn would have written by now (a CA, one profile).
    (credentials / "pki").mkdir(mode=0o700)
    ca = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", "/dev/null", "-subj", "/CN=Test CA", "-days", "30"],
        check=True, capture_output=True, text=True).stdout
    (credentials / "pki" / "ca.crt").write_text(PEM_RE.search(ca).group(0))
    present = [p for p in data["teletreball_staff"] if p.get("state", "present") == "present"]
    worker = next(p for p in present if p.get("vpn_devices"))
    device = worker["vpn_devices"][0]
    profile = credentials / "people" / worker["username"] / "vpn" / f"{device}.conf"
    profile.parent.mkdir(mode=0o700, exist_ok=True)
    profile.write_text("[Interface]\nPrivateKey = x\n")

    first = ansible_playbook(inventory, "preflight.yml", WELCOME_PACKS)
    output = first.stdout + first.stderr
    assert first.returncode == 0, output
    assert "UNREACHABLE" not in output
    for person in present:
        handover = credentials / "people" / person["username"] / "handover"
        assert (handover / "welcome-es.pdf").read_bytes().startswith(b"%PDF-")
        assert (handover / "welcome-ca.html").is_file()
        assert (handover / "vpn.md").is_file() == bool(person.get("vpn_devices"))
    mine = credentials / "people" / worker["username"]
    assert (mine / "handover" / "vpn" / f"{device}.conf").read_text() == profile.read_text()
    assert f"vpn/{device}.conf" in (mine / "vpn.md").read_text()
    before = tree(credentials / "people")

    again = ansible_playbook(inventory, "preflight.yml", WELCOME_PACKS)
    assert again.returncode == 0, again.stdout + again.stderr
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0\s", again.stdout), again.stdout
    assert tree(credentials / "people") == before


def test_nothing_is_written_in_check_mode(tmp_path):
    credentials = tmp_path / "credentials"
    inventory = make_inventory(tmp_path / "inventory", lab_data(credentials))
    result = ansible_playbook(inventory, "preflight.yml", WELCOME_PACKS, "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not list(pathlib.Path(tmp_path).rglob("handover"))
