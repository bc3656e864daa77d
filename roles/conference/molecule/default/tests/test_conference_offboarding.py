"""Offboarding of the chat; runs last (file order): the re-runs change the inventory.

The re-runs of converge go only through the tasks that keep the accounts (tag
conference_accounts), where the sync disables, and after the retention
archives, an account. The preflight on the controller (the role teletreball:
staff directory, secrets, welcome packs) and the role's own checks are tagged
always and run too; Prosody's configuration, the web chat, coturn and the
firewall take no part in offboarding.
"""

from __future__ import annotations

import json
import os
import shlex
import time

import pytest
import yaml
from conference_helpers import DOMAIN, audit_params, client, jid, password, xmpp
from teletreball_testinfra import run_converge

testinfra_hosts = ["podman://conf"]

ARCHIVES = "/var/backups/teletreball/chat"
HOLD_OUTPUT = "/run/leaver-session.json"  # on the client container
ACCOUNTS_RUN = ("--tags", "conference_accounts")
SYNC_TASK = "conference : Bring the chat accounts and rooms to the staff directory"


def molecule_staff():
    scenario = os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "molecule.yml")
    with open(scenario, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    return data["provisioner"]["inventory"]["group_vars"]["all"]["teletreball_staff"]


def staff_with_leaver_absent():
    return [dict(p, state="absent") if p["username"] == "leaver" else p for p in molecule_staff()]


def video_keys(username, room="govern"):
    line = (f"XMPP_PASSWORD={shlex.quote(password(username))} python3 "
            f"/usr/local/lib/teletreball-tests/xmpp_video.py {jid(username)} {room}@rooms.{DOMAIN}")
    return json.loads(client().run(line).stdout.splitlines()[-1])


@pytest.mark.control("CONF-VID-01")
def test_a_room_membership_change_reaches_the_video_room_without_touching_janus(host):
    """regidora is in govern's video meeting when a run takes her out of the
    group govern: she can no longer get the room's keys, Janus keeps running
    (same process) and the meeting in progress goes on."""
    machine = client()
    keys = video_keys("regidora")
    assert keys["ok"], keys
    janus_pid = host.check_output("systemctl show -p MainPID --value janus")
    spec = {"url": f"wss://{DOMAIN}/janus-ws", "token": keys["token"], "room": "govern",
            "room_token": keys["room_token"], "hold": 600, "ready_file": "/run/tt-hold-ready",
            "release_file": "/run/tt-hold-release"}
    machine.run("systemctl reset-failed tt-video-hold; rm -f /run/tt-hold-*")
    machine.check_output("umask 077; echo " + shlex.quote(json.dumps(spec)) + " > /run/tt-hold-in")
    machine.check_output(
        "systemd-run --unit tt-video-hold sh -c 'python3 /usr/local/lib/teletreball-tests/"
        "janus_ws.py < /run/tt-hold-in > /run/tt-hold-out'")
    deadline = time.time() + 30
    while not machine.file("/run/tt-hold-ready").exists:
        assert time.time() < deadline, machine.run("cat /run/tt-hold-out").stdout
        time.sleep(1)

    staff = [dict(p, groups=["staff"]) if p["username"] == "regidora" else p
             for p in molecule_staff()]
    run_converge(*ACCOUNTS_RUN, "--extra-vars", json.dumps({"teletreball_staff": staff}))

    refused = video_keys("regidora")
    assert not refused["ok"] and refused["error"] == "item-not-found", refused
    assert video_keys("mayor")["ok"]
    assert host.check_output("systemctl show -p MainPID --value janus") == janus_pid
    machine.check_output("touch /run/tt-hold-release")
    deadline = time.time() + 30
    while machine.service("tt-video-hold").is_running:
        assert time.time() < deadline, "the held session did not end"
        time.sleep(1)
    held = json.loads(machine.check_output("cat /run/tt-hold-out").splitlines()[-1])
    assert held["join"] == "joined" and held["still_in"] is True, held


@pytest.mark.control("CONF-REV-01")
@pytest.mark.control("CONF-VID-01")
def test_an_absent_person_is_disconnected_at_once_and_refused_then_archived(
        host, control_check):
    machine = client()
    machine.run(f"systemctl reset-failed tt-hold; rm -f {HOLD_OUTPUT}")
    machine.check_output(
        f"systemd-run --unit tt-hold --setenv=XMPP_PASSWORD={password('leaver')} "
        f"sh -c 'python3 /usr/local/lib/teletreball-tests/xmpp_check.py hold "
        f"{jid('leaver')} 900 > {HOLD_OUTPUT}'")
    deadline = time.time() + 30
    while "logged_in" not in machine.run(f"cat {HOLD_OUTPUT}").stdout:
        assert time.time() < deadline, "the session to be closed never opened"
        time.sleep(1)

    staff = staff_with_leaver_absent()
    _, stats = run_converge(*ACCOUNTS_RUN, "--extra-vars", json.dumps({"teletreball_staff": staff}))
    assert SYNC_TASK in stats["conf"]["changed_tasks"], stats["conf"]

    ended = json.loads(machine.check_output(f"tail -n 1 {HOLD_OUTPUT}"))
    assert ended["login"]["result"] == "ok"
    assert ended["ended"] in ("stream_error", "disconnected"), ended
    if ended["ended"] == "stream_error":
        assert ended["condition"] == "not-authorized", ended
    result = xmpp("login", jid("leaver"), passwords=[password("leaver")])
    assert result == {"result": "failed_auth", "condition": "account-disabled",
                      "text": result["text"]}, result
    # Her account is disabled, she has no open session and no room affiliation.
    control_check("CONF-REV-01", audit_params(staff))
    control_check("CONF-MUC-01", audit_params(staff))
    # So no keys to her department's video room either (CONF-VID-01).
    keys = video_keys("leaver", room="urbanisme")
    assert not keys["ok"] and keys["error"].startswith("login failed"), keys
    # Somebody else is not affected, and nothing is archived during the retention.
    assert xmpp("login", jid("joan"), passwords=[password("joan")])["result"] == "ok"
    assert host.run(f"ls {ARCHIVES}/leaver*").rc != 0

    _, stats = run_converge(*ACCOUNTS_RUN, "--extra-vars", json.dumps({
        "teletreball_staff": staff, "conference_account_retention_days": 0}))
    assert SYNC_TASK in stats["conf"]["changed_tasks"], stats["conf"]
    archives = host.check_output(f"find {ARCHIVES} -name 'leaver*.tar.gz'").split()
    assert len(archives) == 1, archives
    # The archives are private (0700 folder, 0600 tar.gz); no account of hers is left.
    control_check("CONF-REV-01", audit_params(staff))
    listing = host.check_output(f"tar -tzf {archives[0]}")
    assert "accounts/leaver.dat" in listing, listing
    result = xmpp("login", jid("leaver"), passwords=[password("leaver")])
    assert result["result"] == "failed_auth" and result["condition"] == "not-authorized", result


@pytest.mark.control("TT-ID-01")
def test_a_username_given_to_another_person_gets_a_new_account_with_an_empty_roster(host):
    """The username joan now belongs to somebody else (another e-mail): the old
    account (with its roster) is archived and deleted, the new one starts empty
    with a new password (issue 18 D). Runs last: it changes joan."""
    old_password = password("joan")
    added = xmpp("roster_add", jid("joan"), jid("leaver"), passwords=[old_password])
    assert added["roster"] == [jid("leaver")], added
    staff = [dict(p, email="joan.nou@prova.teletreball.test", name="Joan Nou")
             if p["username"] == "joan" else p for p in staff_with_leaver_absent()]
    _, stats = run_converge(*ACCOUNTS_RUN, "--extra-vars", json.dumps({"teletreball_staff": staff}))
    assert SYNC_TASK in stats["conf"]["changed_tasks"], stats["conf"]
    assert password("joan") != old_password
    fresh = xmpp("roster", jid("joan"), passwords=[password("joan")])
    assert fresh["login"]["result"] == "ok" and fresh["roster"] == [], fresh
    assert xmpp("login", jid("joan"), passwords=[old_password])["result"] == "failed_auth"
    archives = host.check_output(f"find {ARCHIVES} -name 'joan*.tar.gz'").split()
    assert len(archives) == 1, archives
    assert host.file(archives[0]).mode == 0o600
    assert "roster/joan.dat" in host.check_output(f"tar -tzf {archives[0]}")
