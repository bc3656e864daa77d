"""A remote worker's day with nothing but her welcome pack, from her laptop at home
(tt-home, on the lab's "Internet" only): the VPN, her desktop with the second
factor, the OAC queue's call on her softphone, her department's chat room and
its video room."""

from __future__ import annotations

import json
import re
import shlex
import time

import pytest
from stack_helpers import (
    CONFERENCE_PUBLIC,
    CREDENTIALS,
    DOMAIN,
    PACK,
    QUEUE_NUMBER,
    WORKER,
    WORKER_DESKTOP,
    carrier_call,
    chat,
    device_address,
    handshake_seconds,
    lab_addresses,
    machine,
    phone_tunnel_down,
    phone_tunnel_up,
    rdp_disconnect,
    rdp_login,
    restart_softphone,
    softphone,
    tunnel_down,
    tunnel_up,
    wait_for,
)

testinfra_hosts = ["podman://tt-home"]


def test_the_laptop_holds_her_welcome_pack_only(host):
    listing = host.check_output(f"ls {PACK}").split()
    assert {"README.md", "vpn", "desktop.md", "phone.md", "chat.md", "council-ca.crt"} <= set(
        listing), listing
    assert host.file(PACK).mode == 0o700
    # Her pack only: no other person's files.
    assert host.run(f"grep -rl nuria@ {PACK}").rc != 0


def test_the_vpn_comes_up_with_the_pack_profile_and_shakes_hands(host, measurement):
    tunnel_up()
    seconds = handshake_seconds()
    assert seconds is not None, host.run("wg show wg0").stdout
    measurement(f"stack: WireGuard handshake from home {seconds:.1f} s after wg-quick up")
    # The profile's endpoint is the gateway's address on the Internet side.
    assert "10.89.200.11:51820" in host.check_output("wg show wg0 endpoints")


def test_the_desktop_login_takes_the_password_and_the_code_of_the_pack(host):
    password = host.check_output(f"cat {PACK}/desktop-password").strip()
    # The pack names her session host.
    assert WORKER_DESKTOP in host.check_output(f"cat {PACK}/desktop.md")
    try:
        before, after = rdp_login(WORKER_DESKTOP, WORKER, password)
        assert after == (before[0], before[1] + 1), (before, after)
        desktop = machine(WORKER_DESKTOP)
        assert wait_for(lambda: desktop.run(f"pgrep -u {WORKER} -x xrdp-chansrv").rc == 0
                        or desktop.run(f"pgrep -u {WORKER}").rc == 0, timeout=30)
        # xrdp logs the connection with her laptop's own VPN address (VPN-ADDR-01).
        log = desktop.check_output("journalctl --no-pager -o cat -t xrdp")
        assert re.search(rf"connection .*\b{re.escape(device_address())}\b", log), log[-2000:]
    finally:
        rdp_disconnect()


def banned_addresses():
    """The addresses fail2ban's Asterisk jail has banned on the PBX."""
    return machine("tt-pbx").check_output("fail2ban-client get asterisk banip").split()


def phone_registrations(phone, attempts):
    """``attempts`` REGISTERs of her account with a wrong (old) password from her
    phone's address, each on a new TLS connection; their answers."""
    line = (f"env SIP_PASSWORD=old-password-of-her-phone python3 /usr/local/bin/sip_register.py "
            f"--server tt-pbx --domain {DOMAIN} --user {WORKER} --cafile {PACK}/council-ca.crt "
            f"--bind {phone} --attempts {attempts} --timeout 5")
    return json.loads(machine("tt-home").check_output(line))["attempts"]


@pytest.mark.control("VPN-ADDR-01")
def test_her_old_phone_is_banned_and_her_softphone_still_answers_the_oac_queue(host):
    """Her old phone kept a wrong SIP password: its own address (the gateway does
    not masquerade) fails, Asterisk's security log names it and fail2ban bans it
    alone. Meanwhile the laptop's softphone registers and answers a queue call."""
    pbx = machine("tt-pbx")
    laptop = device_address("laptop")
    phone = phone_tunnel_up()
    try:
        assert phone != laptop
        attempts = phone_registrations(phone, 6)
        assert attempts[0].startswith("SIP/2.0 4"), attempts
        assert not [a for a in attempts if a.startswith("SIP/2.0 2")], attempts
        assert wait_for(lambda: phone in banned_addresses(), timeout=30), banned_addresses()
        security = pbx.check_output("cat /var/log/asterisk/security")
        failed = [line for line in security.splitlines()
                  if "ChallengeResponseFailed" in line and f"/TLS/{phone}/" in line]
        assert len(failed) >= 5, security[-3000:]
        # The banned phone no longer reaches the PBX; her laptop is not banned.
        assert phone_registrations(phone, 1)[0].startswith("no connection"), "not banned"
        assert laptop not in banned_addresses()
        softphone_answers_the_queue(pbx)
        # The PBX knows her laptop by its own address.
        contacts = pbx.check_output(f"asterisk -rx 'pjsip show contacts like {WORKER}'")
        assert f"@{laptop}:" in contacts, contacts
        accepted = [line for line in pbx.check_output("cat /var/log/asterisk/security").splitlines()
                    if "SuccessfulAuth" in line and f"/TLS/{laptop}/" in line]
        assert accepted, "her laptop's registration is not in the security log"
    finally:
        pbx.run(f"fail2ban-client set asterisk unbanip {phone}")
        phone_tunnel_down()


def softphone_answers_the_queue(pbx):
    """Her laptop's softphone registers, logs in to the OAC queue (*61) and answers
    the carrier's call to the queue number, with SRTP and the PBX's RTCP reports."""
    # The softphone started before the tunnel existed: start it again on the tunnel.
    restart_softphone()
    state = softphone("registered --count 1 --timeout 60", check=False)
    assert state.get("ok"), state
    login = softphone("now")["now"]
    softphone(f"dial --from sip:{WORKER}@{DOMAIN} 'sip:*61@{DOMAIN}'")
    assert wait_for(lambda: f"PJSIP/{WORKER}" in pbx.check_output("asterisk -rx 'queue show oac'"),
                    timeout=20), pbx.check_output("asterisk -rx 'queue show oac'")
    # The login call lasts until its prompt ends, and she is busy meanwhile: a caller
    # arriving then first hears the queue's position announcement (about 7 s) and her
    # part of the 10 s call is too short for an RTCP report, which her counters need.
    closed = softphone(f"wait --type CALL_CLOSED --since {login} --timeout 20", check=False)
    assert closed.get("ok"), closed
    since = softphone("now")["now"]
    rc, result = carrier_call(QUEUE_NUMBER, duration=10)
    assert rc == 0 and result["summary"]["answered"] == 1, result
    # Her call ends just after the carrier's: read the counters once it has.
    softphone(f"wait --type CALL_CLOSED --since {since} --timeout 15", check=False)
    calls = [c for c in softphone(f"stats --since {since}")["calls"] if c.get("established_at")]
    assert len(calls) == 1, calls
    call = calls[0]
    assert call["srtp"], call
    # The counters are those of the PBX's RTCP reports (the first 5 s into the call).
    assert call["rtcp_reports"] > 0, f"no RTCP report from the PBX during her call: {call}"
    assert call["rx_packets"] > 0 and call["tx_packets"] > 0, call


def test_the_chat_login_and_a_post_in_the_department_room_reach_a_colleague(host):
    login = chat("login", f"{WORKER}@{DOMAIN}")
    assert login["result"] == "ok" and login["tls"] in ("TLSv1.2", "TLSv1.3"), login
    room = f"oac@rooms.{DOMAIN}"
    assert room in host.check_output(f"cat {PACK}/chat.md")
    # A colleague of the department (her password from the controller) reads it.
    colleague = (CREDENTIALS / "people" / "nuria" / "chat-password").read_text().strip()
    token = f"bon-dia-{int(time.time())}"
    result = chat("exchange", f"{WORKER}@{DOMAIN}", f"nuria@{DOMAIN}", room, token,
                  env={"XMPP_PASSWORD2": colleague})
    assert [j["result"] for j in result["joins"]] == ["joined", "joined"], result
    assert result["received_from"] == f"{room}/{WORKER}", result
    # Prosody logs her logins with her laptop's own VPN address (VPN-ADDR-01).
    log = machine("tt-conf").check_output("cat /var/log/prosody/prosody.log")
    assert f"teletreball-login: login of {WORKER} from {device_address()}" in log, log[-2000:]


def web_login(transport, address):
    """Her login as the web chat does it (websocket or BOSH through nginx), to the
    chat server at ``address``; the JSON answer of xmpp_web_login.py."""
    line = (f"env XMPP_PASSWORD=\"$(cat {PACK}/chat-password)\" python3 "
            f"/usr/local/bin/xmpp_web_login.py {transport} {WORKER}@{DOMAIN} "
            f"https://{DOMAIN}/ --connect {address} --cafile {PACK}/council-ca.crt")
    return json.loads(machine("tt-home").check_output(line).splitlines()[-1])


@pytest.mark.control("CONF-LOGIN-01")
def test_the_web_chat_login_works_through_the_vpn_only(host):
    """Without the tunnel the chat server's page answers from the Internet, but
    the websocket and BOSH logins get 403; through the tunnel both log in."""
    tunnel_down()
    try:
        for transport in ("websocket", "bosh"):
            assert web_login(transport, CONFERENCE_PUBLIC) == {"result": "http-403"}, transport
    finally:
        tunnel_up()
    inside = lab_addresses()["tt-conf"]
    for transport in ("websocket", "bosh"):
        assert web_login(transport, inside) == {"result": "ok"}, transport


@pytest.mark.control("CONF-VID-01")
def test_through_the_vpn_she_joins_her_department_video_room_and_sees_a_colleague(host):
    """Her keys to the OAC room's video come from the chat server over the tunnel
    (her chat password only); a colleague of the room joins too, and each one's
    browser decodes the other's video from Janus's inside address."""
    room = f"oac@rooms.{DOMAIN}"
    colleague = (CREDENTIALS / "people" / "nuria" / "chat-password").read_text().strip()
    participants = []
    for username, password in ((WORKER, None), ("nuria", colleague)):
        secret = f"\"$(cat {PACK}/chat-password)\"" if password is None else shlex.quote(password)
        answer = json.loads(host.check_output(
            f"env XMPP_PASSWORD={secret} python3 /usr/local/bin/xmpp_video.py "
            f"{username}@{DOMAIN} {room}").splitlines()[-1])
        assert answer["ok"], (username, answer)
        keys = ("room", "server", "token", "room_token", "expires", "ice")
        participants.append({"display": username,
                             "fragment_json": {key: answer[key] for key in keys}})
    host.run("install -d -m 0700 /run/tt-video")
    host.check_output("umask 077; echo " + shlex.quote(json.dumps(
        {"url": f"https://{DOMAIN}/video/", "participants": participants}))
        + " > /run/tt-video/input.json")
    result = host.run("timeout 300 python3 /usr/local/bin/cdp_video.py "
                      "--input /run/tt-video/input.json --seconds 4")
    host.run("rm -f /run/tt-video/input.json")
    report = json.loads(result.stdout.splitlines()[-1])
    assert result.rc == 0 and report["ok"], report
    inside = lab_addresses()["tt-conf"]
    for person in report["participants"]:
        assert person["video_remotes_decoding"] == 1, person
        assert {pair["remote_address"] for pair in person["ice"]} == {inside}, person["ice"]
