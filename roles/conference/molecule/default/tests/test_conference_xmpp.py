"""The chat server with a real XMPP client (slixmpp) on another container.

What the server itself shows (Prosody's settings, modules, accounts and rooms, the
listening sockets) is the controls' live checks
(module_utils/teletreball_checks_conference.py), asserted through control_check."""

from __future__ import annotations

import time
import uuid

import pytest
from conference_helpers import (
    DOMAIN,
    ROOMS,
    audit_params,
    client,
    jid,
    outsider,
    pack_folder,
    password,
    xmpp,
)

testinfra_hosts = ["podman://conf"]


@pytest.mark.control("CONF-TLS-01")
@pytest.mark.parametrize("username", ["mayor", "regidora"])
def test_staff_log_in_over_tls_with_the_certificate_verified(username):
    result = xmpp("login", jid(username), passwords=[password(username)])
    assert result["result"] == "ok", result
    assert result["tls"] in ("TLSv1.2", "TLSv1.3"), result
    assert result["jid"].startswith(jid(username) + "/")


@pytest.mark.control("CONF-MUC-01")
def test_two_members_exchange_a_message_in_their_members_only_room():
    token = f"reunio-{uuid.uuid4().hex[:8]}"
    result = xmpp("exchange", jid("mayor"), jid("regidora"), f"govern@{ROOMS}", token,
                  passwords=[password("mayor"), password("regidora")])
    assert [j["result"] for j in result["joins"]] == ["joined", "joined"], result
    assert result["received_from"] == f"govern@{ROOMS}/mayor", result


def test_a_colleague_sees_the_directory_name_as_the_display_name():
    """Issue 18: accents, the apostrophe, the particle i and the hyphen arrive as written."""
    result = xmpp("vcard", jid("mayor"), jid("anna"), passwords=[password("mayor")])
    assert result["login"]["result"] == "ok", result
    assert result.get("fn") == ["Núria D'Amat i Pérez-Soler"], result


@pytest.mark.control("CONF-MUC-01")
def test_a_person_who_is_not_a_member_is_refused_entry():
    result = xmpp("join", jid("joan"), f"govern@{ROOMS}", passwords=[password("joan")])
    assert result["login"]["result"] == "ok", result
    assert result["join"] == {"result": "refused", "condition": "registration-required",
                              "text": result["join"]["text"]}, result


@pytest.mark.control("CONF-MUC-01")
def test_nobody_can_create_a_room():
    result = xmpp("join", jid("anna"), f"nova-{uuid.uuid4().hex[:6]}@{ROOMS}",
                  passwords=[password("anna")])
    assert result["login"]["result"] == "ok", result
    assert result["join"]["result"] == "refused", result
    assert result["join"]["condition"] == "not-allowed", result


@pytest.mark.control("CONF-MUC-01")
def test_the_it_admins_may_enter_every_room():
    for room in ("govern", "oac", "urbanisme"):
        result = xmpp("join", jid("itadmin"), f"{room}@{ROOMS}", passwords=[password("itadmin")])
        assert result["join"]["result"] == "joined", (room, result)


@pytest.mark.control("CONF-ACC-01")
def test_a_wrong_password_is_refused():
    result = xmpp("login", jid("anna"), passwords=[password("anna") + "x"])
    assert result["result"] == "failed_auth", result
    assert result["condition"] == "not-authorized", result


@pytest.mark.control("CONF-LOGIN-01")
def test_without_jitsi_no_anonymous_host_nor_any_jitsi_component_is_served(host):
    """Jitsi Meet is an opt-in (conference_jitsi_hosts false by default): no
    guests' anonymous host, no service accounts' host, no Jitsi component."""
    hosts = host.check_output("prosodyctl shell host list").split()
    assert DOMAIN in hosts and f"rooms.{DOMAIN}" in hosts, hosts
    for name in ("guest", "auth", "conference", "lobby", "breakout", "focus", "internal.auth"):
        assert f"{name}.{DOMAIN}" not in hosts, hosts


@pytest.mark.control("CONF-ACC-01")
def test_anonymous_login_on_the_staff_host_is_refused():
    result = xmpp("anonymous", DOMAIN)
    assert result["result"] in ("no_auth", "failed_auth"), result


@pytest.mark.control("CONF-ACC-01")
def test_an_unknown_account_is_refused():
    result = xmpp("login", jid("ningu"), passwords=["qualsevol-cosa"])
    assert result["result"] == "failed_auth", result


@pytest.mark.control("CONF-TLS-01")
def test_prosody_requires_tls_1_2_with_the_pki_certificate_and_no_federation(
        host, control_check):
    # prosodyctl check config and check certs pass, encryption required, the
    # intermediate profile, no s2s, and STARTTLS verified with the council's CA.
    control_check("CONF-TLS-01", audit_params())


@pytest.mark.control("CONF-NET-01")
def test_prosody_web_server_listens_on_the_loopback_only(host, control_check):
    control_check("CONF-NET-01", audit_params())
    assert host.socket("tcp://0.0.0.0:5222").is_listening


@pytest.mark.control("CONF-ACC-01")
def test_the_accounts_are_the_directorys_with_no_registration_nor_anonymous_host(
        host, control_check):
    control_check("CONF-ACC-01", audit_params())


@pytest.mark.control("CONF-MUC-01")
def test_the_rooms_are_members_only_with_the_directorys_members(host, control_check):
    control_check("CONF-MUC-01", audit_params())


def test_the_welcome_pack_names_the_account_and_only_the_persons_rooms():
    text = (pack_folder("mayor") / "chat.md").read_text()
    assert f"`{jid('mayor')}`" in text
    assert f"govern@{ROOMS}" in text
    assert f"oac@{ROOMS}" not in text and f"urbanisme@{ROOMS}" not in text
    assert password("mayor") not in text, "the password belongs in chat-password only"


def reachable(machine, port, target="10.89.60.10"):
    return machine.run(f"timeout 5 bash -c 'exec 3<>/dev/tcp/{target}/{port}'").rc == 0


@pytest.mark.control("CONF-NET-01")
def test_the_xmpp_client_port_is_open_to_the_vpn_only():
    assert reachable(client(), 5222), "the VPN device cannot reach the XMPP port"
    assert not reachable(outsider(), 5222), "a machine outside the VPN reaches the XMPP port"


@pytest.mark.control("CONF-LOGIN-01")
def test_failed_logins_are_throttled_per_address_and_logged(host):
    """After conference_login_max_failures (5 here) failures within the window
    (10 s here), the address may not try, even with the right password, until
    the window has passed; every failure is logged with the account and address."""
    since = host.check_output("date +%s")
    outcome = None
    for _ in range(6):
        outcome = xmpp("login", jid("joan"), passwords=[password("joan") + "x"])
        if outcome["condition"] == "temporary-auth-failure":
            break
        assert outcome["result"] == "failed_auth", outcome
    assert outcome["condition"] == "temporary-auth-failure", outcome
    refused = xmpp("login", jid("joan"), passwords=[password("joan")])
    assert (refused["result"], refused["condition"]) == ("failed_auth", "temporary-auth-failure")
    log = host.check_output(
        f"journalctl --since @{since} --no-pager -o cat -u prosody; "
        "cat /var/log/prosody/prosody.log")
    assert "teletreball-login: failed login of joan from 10.89.60.30 (not-authorized)" in log
    assert "teletreball-login: refused an attempt from 10.89.60.30: 5 failed logins" in log
    time.sleep(11)
    assert xmpp("login", jid("joan"), passwords=[password("joan")])["result"] == "ok"
