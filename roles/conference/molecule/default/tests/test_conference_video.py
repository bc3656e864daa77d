"""The video rooms: Janus from the council's repository, tokens from Prosody, real browsers.

What the scenario's prepare must give the client (besides test_conference_web.py's
list): python3-websocket and the test clients in /usr/local/lib/teletreball-tests;
NET_ADMIN, for the test that blocks its UDP to Janus.
Members of ROOM (govern): mayor, regidora, tinent and itadmin (an admin of
every room); joan is in urbanisme only.

Set TT_UPDATE_DOC_IMAGES=1 to also copy the 4-person meeting's screenshot to
docs/images/video-room.png.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import pathlib
import re
import shlex
import time

import pytest
from conference_helpers import DOMAIN, ROOMS, audit_params, client, jid, password

testinfra_hosts = ["podman://conf"]

REPO = pathlib.Path(os.environ.get("TT_ROOT") or pathlib.Path(__file__).resolve().parents[5])
TESTS = "/usr/local/lib/teletreball-tests"
ROOM = "govern"
MEMBERS = ("mayor", "regidora", "tinent", "itadmin")
JANUS_WS = f"wss://{DOMAIN}/janus-ws"
PAGE = f"https://{DOMAIN}/video/"


def video_keys(username, room=ROOM, invite_seconds=None):
    """Prosody's answer to the person's request for a room's video (xmpp_video.py)."""
    extra = f" {int(invite_seconds)}" if invite_seconds else ""
    result = client().run(
        f"XMPP_PASSWORD={shlex.quote(password(username))} python3 {TESTS}/xmpp_video.py "
        f"{jid(username)} {room}@{ROOMS}{extra}"
    )
    return json.loads(result.stdout.splitlines()[-1])


def janus(spec):
    """janus_ws.py on the client: a session, the plugin, a join; JSON in on stdin."""
    out = client().check_output(
        f"echo {shlex.quote(json.dumps(spec))} | python3 {TESTS}/janus_ws.py"
    )
    return json.loads(out.splitlines()[-1])


def janus_secret(host):
    config = host.file("/etc/janus/janus.jcfg").content_string
    return re.search(r'token_auth_secret = "([^"]+)"', config).group(1)


def signed(secret, *fields):
    data = ",".join(str(f) for f in fields)
    mac = hmac.new(secret.encode(), data.encode(), hashlib.sha1).digest()
    return f"{data}:{base64.b64encode(mac).decode()}"


@pytest.mark.control("CONF-VID-04")
def test_janus_runs_unprivileged_on_the_loopback_with_its_two_modules_only(
        host, control_check):
    # The user janus, no capability, a read-only system, every file checked before
    # each start, no API secret nor admin API, the other modules disabled by name,
    # and the running Janus's `info` with VideoRoom and WebSocket only.
    control_check("CONF-VID-04", audit_params())
    pid = host.check_output("systemctl show -p MainPID --value janus")
    effective = host.check_output(f"grep CapEff /proc/{pid}/status").split()[1]
    assert int(effective, 16) == 0, effective
    # No HTTP API, no admin API, on no address (the ports of Janus's own defaults).
    for port in (7088, 7188, 7889, 8088, 8089, 8989):
        assert not host.socket(f"tcp://{port}").is_listening, port
    # The checker refuses a file without token authentication, and a syntax
    # error (Janus's own parser), and it runs before every start.
    checker = "/usr/local/sbin/teletreball-janus-check --kind core"
    host.check_output(
        "sed 's/token_auth = true/token_auth = false/' /etc/janus/janus.jcfg"
        " > /run/tt-janus-candidate"
    )
    refused = host.run(f"{checker} /run/tt-janus-candidate")
    assert refused.rc == 1 and "token_auth must be true" in refused.stderr, refused.stderr
    host.check_output("echo 'general: {' > /run/tt-janus-candidate")
    refused = host.run(f"{checker} /run/tt-janus-candidate")
    assert refused.rc == 1 and "Janus cannot read it" in refused.stderr, refused.stderr
    host.run("rm -f /run/tt-janus-candidate")


@pytest.mark.control("CONF-VID-01")
def test_the_video_rooms_need_tokens_signed_by_prosody_for_the_chat_rooms(host, control_check):
    # A private Janus room with signed tokens per present chat room, Prosody's
    # teletreball_video for those rooms, guest links within the maximum.
    control_check("CONF-VID-01", audit_params())


@pytest.mark.control("CONF-VID-03")
def test_coturn_may_relay_to_the_addresses_janus_offers(host, control_check):
    control_check("CONF-VID-03", audit_params())


@pytest.mark.control("CONF-VID-01")
def test_members_get_keys_and_others_get_the_same_refusal():
    keys = video_keys("mayor")
    assert keys["ok"], keys
    assert keys["room"] == ROOM and keys["server"] == JANUS_WS, keys
    data, _ = keys["token"].split(":", 1)
    assert data.split(",")[1:] == ["janus", "janus.plugin.videoroom"], data
    room_data, _ = keys["room_token"].split(":", 1)
    assert room_data.split(",")[1:] == ["janus.plugin.videoroom", f"room={ROOM}"], room_data
    assert int(room_data.split(",")[0]) - time.time() <= 130
    assert any(s["urls"].startswith("turn:") and s.get("credential") for s in keys["ice"]), keys[
        "ice"
    ]
    # joan is not in govern: the same answer as for a room that does not exist.
    refused = video_keys("joan")
    missing = video_keys("joan", room="no-such-room")
    assert not refused["ok"] and refused["error"] == missing["error"] == "item-not-found", (
        refused,
        missing,
    )


@pytest.mark.control("CONF-VID-01")
def test_janus_refuses_no_token_a_forged_or_expired_one_and_another_rooms(host):
    assert janus({"url": JANUS_WS, "room": ROOM})["session"] == "refused"
    forged = signed("not-the-secret", int(time.time()) + 600, "janus", "janus.plugin.videoroom")
    assert janus({"url": JANUS_WS, "token": forged, "room": ROOM})["session"] == "refused"
    secret = janus_secret(host)
    expired = signed(secret, int(time.time()) - 5, "janus", "janus.plugin.videoroom")
    assert janus({"url": JANUS_WS, "token": expired, "room": ROOM})["session"] == "refused"
    # joan's keys to urbanisme open a session, and urbanisme, never govern.
    joan = video_keys("joan", room="urbanisme")
    assert joan["ok"], joan
    own = janus(
        {
            "url": JANUS_WS,
            "token": joan["token"],
            "room": "urbanisme",
            "room_token": joan["room_token"],
        }
    )
    assert own["join"] == "joined", own
    other = janus(
        {"url": JANUS_WS, "token": joan["token"], "room": ROOM, "room_token": joan["room_token"]}
    )
    assert other["join"] == "refused", other
    no_room_token = janus({"url": JANUS_WS, "token": joan["token"], "room": ROOM})
    assert no_room_token["join"] == "refused", no_room_token
    # A room token past its life is refused too.
    late = signed(secret, int(time.time()) - 5, "janus.plugin.videoroom", f"room={ROOM}")
    stale = janus({"url": JANUS_WS, "token": joan["token"], "room": ROOM, "room_token": late})
    assert stale["join"] == "refused", stale


@pytest.mark.control("CONF-VID-01")
def test_a_guest_invitation_opens_one_room_only():
    keys = video_keys("mayor", invite_seconds=3600)
    assert keys["ok"] and keys["invite_url"].startswith(PAGE + "?invite="), keys
    code = keys["invite_url"].split("?invite=", 1)[1]
    redeem = client().run(
        f"curl -sS --fail-with-body -X POST -H 'Content-Type: application/json' "
        f"--data {shlex.quote(json.dumps({'invite': code}))} https://{DOMAIN}/teletreball_video/invite"
    )
    assert redeem.rc == 0, redeem.stdout + redeem.stderr
    guest = json.loads(redeem.stdout)
    assert guest["guest"] is True and guest["room"] == ROOM, guest
    joined = janus(
        {"url": JANUS_WS, "token": guest["token"], "room": ROOM, "room_token": guest["room_token"]}
    )
    assert joined["join"] == "joined", joined
    elsewhere = janus(
        {"url": JANUS_WS, "token": guest["token"], "room": "oac", "room_token": guest["room_token"]}
    )
    assert elsewhere["join"] == "refused", elsewhere
    # An altered code is refused without saying why.
    name, rest = code.split(".", 2)[1], code.split(".", 2)[2]
    other_room = base64.urlsafe_b64encode(b"oac").decode().rstrip("=")
    assert name != other_room
    altered = f"1.{other_room}.{rest}"
    refused = client().run(
        f"curl -sS -o /dev/null -w '%{{http_code}}' -X POST -H 'Content-Type: application/json' "
        f"--data {shlex.quote(json.dumps({'invite': altered}))} https://{DOMAIN}/teletreball_video/invite"
    )
    assert refused.stdout == "403", refused.stdout


@pytest.mark.control("CONF-VID-02")
def test_janus_and_the_page_are_reached_over_tls_only(host, control_check):
    # On the server: Janus's WebSocket on the loopback only, no wss nor admin
    # WebSocket of its own, the video page's headers and Permissions-Policy.
    control_check("CONF-VID-02", audit_params())
    # The WebSocket is plain on the loopback only; outside, nginx serves it over TLS.
    assert client().run(f"curl -s -m 5 http://{DOMAIN}:8188/").rc != 0
    headers = client().check_output(f"curl -sS -D - -o /dev/null {PAGE}")
    assert "content-security-policy: default-src 'self'" in headers.lower(), headers
    assert "camera=(self)" in headers and "microphone=(self)" in headers, headers
    assert "strict-transport-security" in headers.lower(), headers


def browsers(participants, *options, invite=None, timeout=600):
    """cdp_video.py on the client: one Chromium, a browser context per participant.

    ``participants``: list of {display, fragment_json, ...}; the credentials go
    in a file on the client (0600), never on a command line."""
    machine = client()
    spec = json.dumps(
        {"url": PAGE, "participants": participants, **({"invite": invite} if invite else {})}
    )
    machine.run("install -d -m 0700 /run/tt-video")
    machine.check_output(f"umask 077; echo {shlex.quote(spec)} > /run/tt-video/input.json")
    result = machine.run(
        f"timeout {timeout} python3 {TESTS}/cdp_video.py --input /run/tt-video/input.json "
        + " ".join(shlex.quote(o) for o in options)
    )
    machine.run("rm -f /run/tt-video/input.json")
    return result.rc, json.loads(result.stdout.splitlines()[-1])


def member(username):
    keys = video_keys(username)
    assert keys["ok"], (username, keys)
    return {
        "display": username,
        "fragment_json": {
            k: keys[k] for k in ("room", "server", "token", "room_token", "expires", "ice")
        },
    }


@pytest.mark.control("CONF-VID-01")
@pytest.mark.control("CONF-VID-02")
def test_four_members_see_and_hear_each_other_in_real_browsers(measurement):
    participants = [member(name) for name in MEMBERS]
    rc, report = browsers(
        participants,
        "--seconds",
        "6",
        "--stagger",
        "1",
        "--screenshot",
        "/run/tt-video/meeting.png",
    )
    summary = [
        (
            p["display"],
            p["state"],
            p.get("error"),
            p["video_remotes_decoding"],
            p["audio_remotes_receiving"],
        )
        for p in report["participants"]
    ]
    assert rc == 0 and report["ok"], (summary, report.get("failures"), report.get("error"))
    for person in report["participants"]:
        # Every other participant's video decoded and audio received, over DTLS-SRTP.
        assert person["video_remotes_decoding"] == len(MEMBERS) - 1, person
        assert person["audio_remotes_receiving"] == len(MEMBERS) - 1, person
        assert person["csp_violations"] == [], person
        assert all(pair["state"] == "succeeded" for pair in person["ice"]), person["ice"]
        assert all(pair["dtls"] == "connected" and pair["srtp"] for pair in person["ice"]), person[
            "ice"
        ]
    measurement(
        "video: 4 members, received kbit/s per member: "
        + ", ".join(
            str(round(sum(r["bytes_received"] for r in p["remotes"]) * 8 / 6 / 1000))
            for p in report["participants"]
        )
        + "; first remote frame after the page opened (ms): "
        + ", ".join(str(p["timings"]["first_frame_after_start_ms"]) for p in report["participants"])
    )
    image = client().file("/run/tt-video/meeting.png")
    assert image.exists and image.size > 20000
    if os.environ.get("TT_UPDATE_DOC_IMAGES") == "1":
        target = REPO / "docs" / "images" / "video-room.png"
        target.write_bytes(
            base64.b64decode(client().check_output("base64 -w0 /run/tt-video/meeting.png"))
        )


@pytest.mark.control("CONF-VID-01")
def test_a_non_member_is_refused_by_the_page():
    joan = video_keys("joan", room="urbanisme")
    forged = {
        "room": ROOM,
        "server": JANUS_WS,
        "token": joan["token"],
        "room_token": joan["room_token"],
        "expires": joan["expires"],
        "ice": joan["ice"],
    }
    rc, report = browsers(
        [member("mayor"), {"display": "joan", "fragment_json": forged, "expect_refused": True}],
        "--seconds",
        "2",
    )
    states = {p["display"]: p["state"] for p in report["participants"]}
    assert states == {"mayor": "joined", "joan": "refused"}, report
    assert rc == 0, report


@pytest.mark.control("CONF-VID-03")
def test_with_its_udp_to_janus_blocked_a_browser_gets_the_media_through_turn():
    machine = client()
    machine.check_output(
        "nft add table inet tt_video_test && "
        "nft 'add chain inet tt_video_test out { type filter hook output priority 0; }' && "
        "nft add rule inet tt_video_test out ip daddr 10.89.60.10 udp dport 20000-20999 drop"
    )
    try:
        rc, report = browsers([member("mayor"), member("regidora")], "--seconds", "5")
    finally:
        machine.run("nft delete table inet tt_video_test")
    assert rc == 0 and report["ok"], report
    for person in report["participants"]:
        assert person["video_remotes_decoding"] == 1 and person["audio_remotes_receiving"] == 1
        local_types = {pair["local"] for pair in person["ice"]}
        assert local_types == {"relay"}, person["ice"]


@pytest.mark.control("CONF-VID-01")
def test_a_guest_joins_through_the_invitation_page():
    keys = video_keys("mayor", invite_seconds=600)
    assert keys["ok"], keys
    rc, report = browsers(
        [member("mayor")],
        "--seconds",
        "4",
        "--guest-name",
        "Convidada Externa",
        invite=keys["invite_url"],
    )
    assert rc == 0 and report["ok"], report
    guest = report["participants"][-1]
    assert guest["state"] == "joined" and guest["video_remotes_decoding"] == 1, guest


def janus_cpu_ticks(host):
    pid = host.check_output("systemctl show -p MainPID --value janus")
    fields = host.check_output(f"cat /proc/{pid}/stat").rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks


@pytest.mark.skipif(
    not os.environ.get("TT_VIDEO_BENCH"), reason="a benchmark: TT_VIDEO_BENCH=1 runs it"
)
@pytest.mark.parametrize("count", [4, 8])
def test_benchmark_janus_cpu_bitrate_and_time_to_first_frame(host, count):
    """docs/performance.md, "Video rooms": Janus's CPU over the whole run (join and
    20 s of media) and what each participant receives, with `count` participants
    in one room (the 4 members' keys, used twice for 8)."""
    keys = [member(name) for name in MEMBERS]
    participants = [dict(keys[i % len(keys)], display=f"P{i + 1}") for i in range(count)]
    hz = int(host.check_output("getconf CLK_TCK"))
    ticks, start = janus_cpu_ticks(host), time.time()
    rc, report = browsers(participants, "--seconds", "20", "--timeout", "180")
    cpu = (janus_cpu_ticks(host) - ticks) / hz / (time.time() - start)
    people = report["participants"]
    rates = [sum(r["bytes_received"] for r in p["remotes"]) * 8 / 20 / 1000 for p in people]
    first = [p["timings"]["first_frame_after_start_ms"] for p in people]
    print(
        json.dumps(
            {
                "participants": count,
                "janus_cpu_cores": round(cpu, 3),
                "received_kbps": [round(r) for r in rates],
                "first_remote_frame_ms": first,
                "decoding": [p["video_remotes_decoding"] for p in people],
            }
        )
    )
    assert rc == 0 and report["ok"], report


def in_the_meeting(username, seconds=120):
    """username's own Chromium in the room, in the background, until stopped (or
    ``seconds``); returns once Janus lists them among the room's publishers."""
    machine = client()
    colleague = json.dumps({"url": PAGE, "participants": [member(username)]})
    machine.run("systemctl stop tt-video-bg; systemctl reset-failed tt-video-bg")
    machine.check_output(f"umask 077; echo {shlex.quote(colleague)} > /run/tt-video-bg.json")
    machine.check_output(
        "systemd-run --unit tt-video-bg -E HOME=/root sh -c 'python3 "
        f"{TESTS}/cdp_video.py --input /run/tt-video-bg.json --seconds {seconds} > /dev/null'"
    )
    deadline = time.time() + 90
    while True:
        keys = video_keys("mayor")
        spec = {
            "url": JANUS_WS,
            "token": keys["token"],
            "room": ROOM,
            "room_token": keys["room_token"],
        }
        if username in janus(spec)["participants"]:
            return
        assert time.time() < deadline, f"{username}'s browser never published"
        time.sleep(2)


def out_of_the_meeting():
    client().run("systemctl stop tt-video-bg; rm -f /run/tt-video-bg.json")


@pytest.mark.control("CONF-VID-02")
def test_firefox_esr_of_the_desktops_sees_and_hears_a_member_in_chromium():
    """The desktops' browser: Firefox ESR (WebDriver BiDi, fake devices) joins
    regidora, who is in the meeting with Chromium, and decodes her video and
    audio."""
    machine = client()
    spec = json.dumps({"url": PAGE, "participants": [member("mayor")]})
    try:
        in_the_meeting("regidora")
        machine.check_output(f"umask 077; echo {shlex.quote(spec)} > /run/tt-video-ff.json")
        result = machine.run(
            f"HOME=/root timeout 240 python3 {TESTS}/bidi_video.py --input /run/tt-video-ff.json "
            "--others 1 --seconds 5"
        )
    finally:
        out_of_the_meeting()
        machine.run("rm -f /run/tt-video-ff.json")
    report = json.loads(result.stdout.splitlines()[-1])
    assert result.rc == 0 and report["ok"], report
    assert report["browser"].startswith("Firefox"), report["browser"]
    person = report["participants"][0]
    assert person["video_remotes_decoding"] == 1 and person["audio_remotes_receiving"] == 1, person
    # Firefox has no transport statistics (DTLS state): its pairs succeeded.
    assert person["ice"] and all(pair["state"] == "succeeded" for pair in person["ice"]), person


@pytest.mark.control("CONF-VID-01")
def test_the_rooms_video_button_in_the_web_chat_opens_the_meeting(measurement):
    """mayor logs in to the web chat, opens govern and clicks its video button:
    the window it opens joins the room with the keys Prosody gave her session
    and shows regidora, who is already in the meeting, within seconds."""
    machine = client()
    machine.check_output(
        f"umask 077; printf 'TT_CHAT_PASSWORD=%s\\n' {shlex.quote(password('mayor'))}"
        " > /run/tt-mayor.env"
    )
    try:
        in_the_meeting("regidora")
        result = machine.run(
            f"set -a; . /run/tt-mayor.env; set +a; HOME=/root timeout 200 python3 "
            f"{TESTS}/cdp_converse.py --video --url https://{DOMAIN}/ --username mayor "
            f"--room {ROOM}@{ROOMS} --screenshot /run/tt-converse-video.png --timeout 60"
        )
    finally:
        out_of_the_meeting()
        machine.run("rm -f /run/tt-mayor.env")
    report = json.loads(result.stdout.splitlines()[-1])
    measurement(
        f"video: click on the room's button to the first remote frame: "
        f"{report.get('click_to_first_frame_ms')} ms"
    )
    assert result.rc == 0 and report["video_state"] == "joined", report
    # The keys went through the address bar's fragment and were taken out at once.
    assert report["video_location"] == "/video/", report
    assert 0 < report["click_to_first_frame_ms"] < 20000, report
