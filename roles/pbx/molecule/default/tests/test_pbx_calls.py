"""Real calls: the carrier simulator (Asterisk) calls the council's numbers,
the agents' softphones (baresip, over TLS with SRTP, configured from their
welcome packs) answer through the OAC queue.

The tests run in file order: the agents register, log in to the queue, take
calls, pause; then follow-me, outbound permissions and the intruder.
"""

from __future__ import annotations

import re
import time

import pytest
from pbx_helpers import (
    AGENTS,
    DOMAIN,
    INTRUDER,
    asterisk,
    audit_params,
    carrier_call,
    cdr_rows,
    ctl,
    dial,
    now,
    queue_members,
    received,
)
from teletreball_testinfra import wait_for

testinfra_hosts = ["podman://pbx"]


# As in the scenario's directory (molecule.yml).
AGENT1_NAME = "Núria D'Amat i Pérez-Soler"
CLERK_NAME = 'Clerk "Ferrer"; Puig, d\'Urgell ;-- [x] (y <z> \\ ${EXTEN}'


def display_names(instance, username, since):
    """The caller names the phone of ``username`` got for its calls since ``since``.
    baresip reports the display name as the INVITE's From header has it, a quoted
    string: shown to a person, its quoted pairs are the characters themselves
    (RFC 3261 25.1: \\" is ", \\\\ is \\)."""
    found = ctl(instance, f"wait --type CALL_INCOMING --aor {username}@ --since {since} "
                          "--count 1 --timeout 20", check=False)
    return [re.sub(r"\\(.)", r"\1", event.get("peerdisplayname", ""))
            for event in found.get("events", [])]


def agent_calls(since, instance="oac"):
    return ctl(instance, f"stats --since {since}")["calls"]


@pytest.mark.control("PBX-TLS-01")
def test_agents_register_over_tls_with_their_welcome_pack(host):
    for instance, count in [("oac", 2), ("staff", 2), ("load", 50)]:
        state = ctl(instance, f"registered --count {count} --timeout 60", check=False)
        assert state.get("ok"), f"{instance}: {state}"
    # The PBX sees each phone's contact (that staff endpoints have no transport but
    # TLS and require SRTP is PBX-TLS-01's live check, test_pbx_security.py).
    contacts = host.check_output("asterisk -rx 'pjsip show contacts'")
    for user in ["agent1", "agent-2", "clerk", "mayor"]:
        assert f"{user}/sip:" in contacts, contacts


def test_agents_log_in_to_the_queue_with_the_feature_code(host):
    for user in ["agent1", "agent-2"]:
        dial("oac", user, "*61")
    members = wait_for(lambda: {"PJSIP/agent1", "PJSIP/agent-2"} <= set(queue_members()), 20)
    assert members, queue_members()
    # Somebody who is not an OAC agent cannot join.
    dial("staff", "clerk", "*61")
    ctl("staff", "wait --type CALL_CLOSED --count 1 --timeout 20", check=False)
    assert "PJSIP/clerk" not in queue_members()


@pytest.mark.control("PBX-TLS-01")
def test_a_call_in_office_hours_reaches_an_agent_through_the_menu_and_the_queue(host):
    since = now()
    # The main number: the menu, no key pressed, Catalan, then the queue.
    # The menu takes about 10 s (prompts, then the timeout): the call lasts 25 s.
    rc, result = carrier_call("938000000", duration=25)
    assert rc == 0 and result["summary"]["answered"] == 1, result
    assert result["calls"][0]["media_both_ways"], result["calls"][0]
    calls = [c for c in agent_calls(since) if c.get("established_at")]
    assert len(calls) == 1, calls
    call = calls[0]
    assert call["aor"].split("@")[0] in ("sip:agent1", "sip:agent-2")
    assert call["srtp"], "the agent's call was not encrypted"
    assert call["tx_packets"] > 0 and call["rx_packets"] > 0 and call["media_both_ways"], call
    rows = cdr_rows(since)
    assert any(r["lastapp"] == "Queue" and r["disposition"] == "ANSWERED"
               and r["userfield"] == "open" for r in rows), rows


def test_the_spanish_key_of_the_menu_reaches_the_queue(host):
    since = now()
    rc, result = carrier_call("938000000", duration=20, extra="--dtmf 2 --dtmf-delay 1")
    assert rc == 0 and result["summary"]["answered"] == 1, result
    assert [c for c in agent_calls(since) if c.get("established_at")], "no agent took the call"


def test_a_paused_agent_gets_no_call_from_the_queue(host):
    dial("oac", "agent1", "*63")
    assert wait_for(lambda: queue_members()["PJSIP/agent1"]["paused"], 15), queue_members()
    try:
        since = now()
        for _ in range(2):
            rc, result = carrier_call("938000001", duration=10)
            assert rc == 0, result
        taken = [c["aor"] for c in agent_calls(since) if c.get("established_at")]
        assert taken == [f"sip:agent-2@{DOMAIN}"] * 2, taken
    finally:
        dial("oac", "agent1", "*64")
    assert wait_for(lambda: not queue_members()["PJSIP/agent1"]["paused"], 15)


def test_an_unanswered_colleague_is_followed_to_their_mobile(host):
    since = now()
    # agent1 calls the clerk (extension 1010), whose softphone does not answer;
    # the clerk opted in to follow-me with +34600000010.
    dial("oac", "agent1", "1010")
    # Her name is on the clerk's phone as the directory writes it (issue 18).
    assert display_names("staff", "clerk", since) == [AGENT1_NAME]
    # 20 s of ringing (pbx_ring_time), then the mobile; hang up once it is called.
    time.sleep(30)
    ctl("oac", "hangupall")
    rows = wait_for(lambda: received("+34600000010", since)["calls"], 20, 2)
    assert rows, "the PBX did not call the clerk's mobile"


@pytest.mark.control("PBX-DIR-01")
def test_every_person_has_one_endpoint_and_one_mailbox_with_her_name_whole(
        host, control_check):
    """No name or department added or hid a section of pjsip.conf or a line of
    voicemail.conf (the clerk's ;-- would hide what follows it, unescaped): the live
    check finds one endpoint and one mailbox per person, and each endpoint's caller
    ID as the directory writes it (quotes, backslashes, ; and ;--, commas, brackets
    and a ${}), in a staff context."""
    control_check("PBX-DIR-01", audit_params())
    users = asterisk("voicemail show users for staff")
    # voicemail.conf's fields are separated by commas: the name keeps the rest.
    assert CLERK_NAME.replace(",", " ")[:20] in users, users
    # The endpoints kept their own context: no name or department set another.
    for user in ("hostile1", "hostile2", "clerk"):
        shown = asterisk(f"pjsip show endpoint {user}")
        assert re.search(r"^\s*context\s*:\s*from-staff-internal\s*$", shown,
                         re.MULTILINE), shown


@pytest.mark.parametrize(
    ("user", "number", "allowed"),
    [
        ("agent1", "932000000", True),       # oac_agents: national
        ("agent1", "0033123456789", False),  # ...but not international
        ("mayor", "0033123456789", True),    # govern: international
        ("agent1", "112", True),             # emergency numbers: everybody
    ],
)
def test_outbound_calls_follow_the_groups_permissions(host, user, number, allowed):
    instance = "oac" if user.startswith("agent") else "staff"
    since = now()
    dial(instance, user, number)
    # The carrier writes its CDR row when the call ends: hang up after a while.
    time.sleep(8)
    ctl(instance, "hangupall")
    reached = wait_for(lambda: received(number, since)["calls"], 15 if allowed else 5, 1)
    assert bool(reached) == allowed, (user, number, reached)


@pytest.mark.control("PBX-BAN-01")
def test_wrong_passwords_are_refused_and_the_address_is_banned(host):
    # The intruder's softphone holds real account names with a wrong password.
    state = ctl("intruder", "registered", host=INTRUDER, check=False)
    assert state.get("registered") == [], state
    log = host.file("/var/log/asterisk/security").content_string
    failures = [line for line in log.splitlines()
                if "ChallengeResponseFailed" in line and "/10.89.50.40/" in line]
    assert len(failures) >= 3, "the failures are not in Asterisk's security log"
    jail = wait_for(
        lambda: "10.89.50.40" in host.check_output("fail2ban-client status asterisk"), 30)
    assert jail, host.check_output("fail2ban-client status asterisk")
    assert INTRUDER.run("timeout 5 bash -c '</dev/tcp/pbx/5061'").rc != 0
    # The agents are not affected.
    assert AGENTS.run("timeout 5 bash -c '</dev/tcp/pbx/5061'").rc == 0


@pytest.mark.control("PBX-BAN-01")
def test_the_jail_runs_on_asterisks_security_log_with_the_inventorys_limits(
        host, control_check):
    control_check("PBX-BAN-01", audit_params())
