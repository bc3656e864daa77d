"""Group check and offboarding; runs after test_vdi.py (file order).

The re-runs of converge here change the inventory, so they come last.
"""

from __future__ import annotations

import json
import stat

import pytest
from teletreball_testinfra import run_converge
from vdi_helpers import CREDENTIALS, fresh_code, login_refused, password

testinfra_hosts = ["podman://vdi-host"]

STAFF = [
    {"username": "agent", "name": "Agent de l'OAC", "email": "agent@prova.teletreball.test",
     "department": "OAC", "groups": ["oac_agents"], "vpn_devices": ["laptop"], "desktop": True},
    {"username": "clerk", "name": "Clerk Ferrer", "email": "clerk@prova.teletreball.test",
     "department": "Secretaria", "groups": ["staff"], "vpn_devices": ["laptop"],
     "desktop": True, "state": "absent"},
    {"username": "mayor", "name": "Mayor Vidal", "email": "mayor@prova.teletreball.test",
     "department": "Alcaldia", "groups": ["govern"], "vpn_devices": ["tablet"],
     "desktop": False},
]


@pytest.mark.control("VDI-ACC-01")
def test_a_person_outside_the_login_group_is_refused_and_the_run_restores_it(host):
    host.check_output("gpasswd -d clerk remote-desktop")
    assert login_refused(host, "clerk", password("clerk") + fresh_code("clerk"))
    log = host.check_output("journalctl --no-pager -n 30 -o cat -t xrdp-sesexec -t xrdp-sesman")
    assert "clerk" in log
    _, stats = run_converge()
    assert stats["vdi-host"]["changed"] >= 1, "the run did not put clerk back into the group"
    assert "remote-desktop" in host.user("clerk").groups


@pytest.mark.control("VDI-REV-01")
def test_an_offboarded_person_is_locked_at_once_and_archived_after_retention(host):
    home = host.user("clerk").home
    find_archives = "find /var/backups/teletreball/desktops -name 'clerk-*.tar.gz'"
    archived_before = set(host.run(find_archives).stdout.split())
    host.check_output(f"runuser -u clerk -- sh -c 'echo informe > {home}/informe.txt'")
    run_converge("--extra-vars", json.dumps({"teletreball_staff": STAFF}))
    assert host.check_output("passwd -S clerk").split()[1] == "L"
    assert "remote-desktop" not in host.user("clerk").groups
    assert host.file(f"{home}/informe.txt").exists  # kept during the retention
    assert login_refused(host, "clerk", password("clerk") + fresh_code("clerk"))
    # The other person is not affected.
    assert host.check_output("passwd -S agent").split()[1] == "P"

    run_converge("--extra-vars", json.dumps({"teletreball_staff": STAFF,
                                             "vdi_home_retention_days": 0}))
    assert not host.user("clerk").exists
    assert not host.file(home).exists
    archives = sorted(set(host.check_output(find_archives).split()) - archived_before)
    assert len(archives) == 1
    archive = host.file(archives[0])
    assert archive.user == "root" and archive.mode == 0o600
    assert host.file("/var/backups/teletreball/desktops").mode == 0o700
    listing = host.check_output(f"tar -tzf {archives[0]}")
    assert "informe.txt" in listing
    # The welcome pack is archived on the controller, not deleted.
    assert not (CREDENTIALS / "people" / "clerk").exists()
    kept = list((CREDENTIALS / "archive").glob("clerk-*"))
    assert kept and stat.S_IMODE(kept[0].stat().st_mode) == 0o700

