"""Group check and offboarding; runs after test_vdi.py (file order).

The re-runs of converge here change the inventory, so they come last. Both
tests share one re-run (the module fixture ``offboarding_run``): before it, agent
is taken out of the login group by hand and clerk leaves a file in their home;
the run then has clerk absent from the staff directory, so it must put agent
back and lock clerk at once. A second re-run, with a retention of 0 days,
archives clerk's home. The re-runs go only through the tasks that keep the
accounts (tag vdi_accounts), where the group, the lock and the archive are
made; the preflight on the controller, which archives the welcome pack, and the
role's own checks are tagged always and run too.
"""

from __future__ import annotations

import json
import stat

import pytest
import testinfra
from teletreball_testinfra import run_converge
from vdi_helpers import CREDENTIALS, audit_params, fresh_code, login_refused, password

testinfra_hosts = ["podman://vdi-host"]

# The accounts and the second factor: an offboarded person's TOTP secret goes in
# the same run (VDI-REV-01).
ACCOUNTS_RUN = ("--tags", "vdi_accounts,vdi_second_factor")
FIND_ARCHIVES = "find /var/backups/teletreball/desktops -name 'clerk-*.tar.gz'"

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


@pytest.fixture(scope="module")
def offboarding_run():
    """Set up both tests' conditions, then run converge once with clerk absent.

    Returns what was seen before the run; the tests check it and the host."""
    host = testinfra.get_host("podman://vdi-host")
    seen = {}
    # Group check: agent, still in the directory, is taken out of the login group.
    host.check_output("gpasswd -d agent remote-desktop")
    seen["agent_refused"] = login_refused(host, "agent", password("agent") + fresh_code("agent"))
    seen["sesman_log"] = host.check_output(
        "journalctl --no-pager -n 30 -o cat -t xrdp-sesexec -t xrdp-sesman")
    # Offboarding: clerk has a file in their home that the archive must keep.
    seen["home"] = host.user("clerk").home
    seen["archives"] = set(host.run(FIND_ARCHIVES).stdout.split())
    host.check_output(f"runuser -u clerk -- sh -c 'echo informe > {seen['home']}/informe.txt'")
    run_converge(*ACCOUNTS_RUN, "--extra-vars", json.dumps({"teletreball_staff": STAFF}))
    return seen


@pytest.mark.control("VDI-ACC-01")
def test_a_person_outside_the_login_group_is_refused_and_the_run_restores_it(
        host, offboarding_run, control_check):
    assert offboarding_run["agent_refused"], "agent logged in while outside the login group"
    assert "agent" in offboarding_run["sesman_log"]
    # The run put agent back: the login group is agent alone (clerk is absent).
    control_check("VDI-ACC-01", audit_params(STAFF))
    assert host.check_output("passwd -S agent").split()[1] == "P"


@pytest.mark.control("VDI-REV-01")
def test_an_offboarded_person_is_locked_at_once_and_archived_after_retention(
        host, offboarding_run, control_check):
    home = offboarding_run["home"]
    # Locked and expired, out of the login group, no process, no TOTP secret.
    outcome = control_check("VDI-REV-01", audit_params(STAFF))
    assert any(f["evidence"].startswith("clerk: password locked") for f in outcome["findings"])
    assert host.file(f"{home}/informe.txt").exists  # kept during the retention
    assert login_refused(host, "clerk", password("clerk") + fresh_code("clerk"))
    # The other person is not affected.
    assert host.check_output("passwd -S agent").split()[1] == "P"

    run_converge(*ACCOUNTS_RUN, "--extra-vars", json.dumps({"teletreball_staff": STAFF,
                                                            "vdi_home_retention_days": 0}))
    assert not host.user("clerk").exists
    assert not host.file(home).exists
    archives = sorted(set(host.check_output(FIND_ARCHIVES).split()) - offboarding_run["archives"])
    assert len(archives) == 1
    # The archives are root's 0600 in a 0700 folder; clerk has no account.
    control_check("VDI-REV-01", audit_params(STAFF))
    listing = host.check_output(f"tar -tzf {archives[0]}")
    assert "informe.txt" in listing
    # The welcome pack is archived on the controller, not deleted.
    assert not (CREDENTIALS / "people" / "clerk").exists()
    kept = list((CREDENTIALS / "archive").glob("clerk-*"))
    assert kept and stat.S_IMODE(kept[0].stat().st_mode) == 0o700


@pytest.mark.control("TT-ID-01")
def test_a_username_given_to_another_person_gets_a_fresh_home_and_password(
        host, offboarding_run, control_check):
    """The username agent now belongs to somebody else (another e-mail): her
    predecessor's home and welcome pack are archived, and she starts empty with new
    secrets (issue 18 D). Runs last: it changes agent."""
    old_home = host.user("agent").home
    old_password = password("agent")
    host.check_output(f"runuser -u agent -- sh -c 'echo privat > {old_home}/privat.txt'")
    before = set(host.run("find /var/backups/teletreball/desktops -name 'agent-*'").stdout.split())
    staff = [dict(p, email="agent.nova@prova.teletreball.test", name="Agent Nova")
             if p["username"] == "agent" else p for p in STAFF]
    run_converge(*ACCOUNTS_RUN, "--extra-vars", json.dumps({"teletreball_staff": staff}))
    # The host records agent's account as the new person's.
    control_check("TT-ID-01", {"tt_desktop_identities":
                               audit_params(staff)["tt_desktop_identities"]})
    agent = host.user("agent")
    assert agent.exists and agent.gecos.startswith("Agent Nova")
    assert not host.file(f"{agent.home}/privat.txt").exists
    assert "remote-desktop" in agent.groups
    assert host.check_output("passwd -S agent").split()[1] == "P"
    (archive,) = set(host.check_output(
        "find /var/backups/teletreball/desktops -name 'agent-*'").split()) - before
    assert host.file(archive).mode == 0o600
    assert "privat.txt" in host.check_output(f"tar -tzf {archive}")
    assert password("agent") != old_password
    old_packs = list((CREDENTIALS / "archive").glob("agent-*"))
    assert [(p / "desktop-password").read_text().strip() for p in old_packs] == [old_password]
