"""Unit tests of roles/conference/files/mod_teletreball_video.lua, run by Lua 5.4
outside Prosody (tests/unit/fixtures/prosody_video_harness.lua fakes the Prosody
libraries and the MUC component it needs; its SHA-1, SHA-256, HMAC and base64 are
real, so every token and code is recomputed here with hmac and base64).

They pin the Janus tokens (format, signature, expiry), who gets them (members of a
members-only room with video, asking from a signed-in client of the staff's host,
and nobody else, with one answer for every room they may not know about), the guest
invitations (clamped lifetime, a code that carries no address and cannot be altered)
and their redemption over HTTP (expired, altered, oversized, too many attempts).
Skipped when lua5.4 is not installed (harness/setup-host installs it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import pathlib
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
MODULE = REPO / "roles" / "conference" / "files" / "mod_teletreball_video.lua"
HARNESS = REPO / "tests" / "unit" / "fixtures" / "prosody_video_harness.lua"

LUA = shutil.which("lua5.4")
pytestmark = pytest.mark.skipif(LUA is None, reason="lua5.4 is not installed")

HOST = "prova.teletreball.test"
MUC = "rooms.prova.teletreball.test"
SERVER = "wss://prova.teletreball.test/janus-ws"
INVITE_URL = "https://prova.teletreball.test/video/"
SECRET = "janus-token-secret"  # noqa: S105 (a test value)
INVITE_SECRET = "invitation-secret"  # noqa: S105 (a test value)
TURN_SECRET = "coturn-secret"  # noqa: S105 (a test value)
NS = "urn:teletreball:video:0"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NOW = 1_750_000_000

TURN = [
    {"type": "stun", "transport": "udp", "host": "turn.prova.teletreball.test", "port": 3478},
    {
        "type": "turn",
        "transport": "udp",
        "host": "turn.prova.teletreball.test",
        "port": 3478,
        "secret": True,
        "ttl": 86400,
    },
    {
        "type": "turns",
        "transport": "tcp",
        "host": "turn.prova.teletreball.test",
        "port": 5349,
        "secret": True,
        "ttl": 86400,
    },
]

OPTIONS = {
    "teletreball_video_secret": SECRET,
    "teletreball_video_muc": MUC,
    "teletreball_video_rooms": ["ple", "urbanisme", "gone", "open"],
    "teletreball_video_server": SERVER,
    "teletreball_video_invite_secret": INVITE_SECRET,
    "teletreball_video_invite_url": INVITE_URL,
    "external_service_secret": TURN_SECRET,
    "external_services": TURN,
}

ROOMS = {
    f"ple@{MUC}": {
        "members_only": True,
        "affiliations": {
            f"anna@{HOST}": "member",
            f"pau@{HOST}": "admin",
            f"marta@{HOST}": "owner",
            f"pere@{HOST}": "outcast",
        },
    },
    f"urbanisme@{MUC}": {"members_only": True, "affiliations": {f"pau@{HOST}": "member"}},
    # Not in teletreball_video_rooms: a chat room without video.
    f"arxiu@{MUC}": {"members_only": True, "affiliations": {f"anna@{HOST}": "member"}},
    # In the list, but not members-only (a room changed by hand).
    f"open@{MUC}": {"members_only": False, "affiliations": {f"anna@{HOST}": "member"}},
}


def lua(value):
    """``value`` as a Lua literal (the scenario file)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # Every byte but the plainest as a decimal escape: any text, any bytes.
        plain = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:/@-_=?")
        return '"' + "".join(chr(b) if b in plain else f"\\{b:03d}" for b in value.encode()) + '"'
    if isinstance(value, list):
        return "{" + ", ".join(lua(v) for v in value) + "}"
    return "{" + ", ".join(f"[{lua(k)}] = {lua(v)}" for k, v in value.items()) + "}"


def run(tmp_path, steps, options=None, rooms=None, muc=True, drop=()):
    """Load the module with ``options`` (OPTIONS by default, without the keys in
    ``drop``) and run ``steps``; the harness's outcome."""
    options = {**OPTIONS, **(options or {})}
    for key in drop:
        options.pop(key)
    scenario = tmp_path / "scenario.lua"
    scenario.write_text(
        "return "
        + lua(
            {
                "host": HOST,
                "muc_host": MUC if muc else None,
                "options": options,
                "rooms": ROOMS if rooms is None else rooms,
                "steps": steps,
            }
        )
        + "\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [LUA, str(HARNESS), str(MODULE), str(scenario)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["loaded"] is True, outcome
    return outcome


def person(name, host=HOST, kind="c2s"):
    return {"type": kind, "host": host, "username": name}


def join(origin, room, at=NOW):
    return {
        "kind": "iq",
        "at": at,
        "origin": origin,
        "type": "get",
        "name": "video",
        "attr": {"room": room},
    }


def invite(origin, room, seconds, at=NOW):
    return {
        "kind": "iq",
        "at": at,
        "origin": origin,
        "type": "set",
        "name": "invite",
        "attr": {"room": room, "seconds": seconds},
    }


def redeem(body, at=NOW, ip="192.0.2.10"):
    if not isinstance(body, str):
        body = json.dumps(body)
    return {"kind": "http", "at": at, "ip": ip, "body": body}


def reply(result):
    """The one stanza the module sent for an IQ step."""
    assert result["handled"] is True
    (stanza,) = result["replies"]
    return stanza


def error_of(result):
    stanza = reply(result)
    assert stanza["attr"]["type"] == "error"
    (error,) = stanza["children"]
    names = [child["name"] for child in error["children"]]
    assert error["children"][0]["attr"]["xmlns"] == STANZAS
    return error["attr"]["type"], names[0], error


def payload(result):
    """The <video/> or <invite/> element of a result."""
    stanza = reply(result)
    assert stanza["attr"]["type"] == "result", stanza
    (element,) = stanza["children"]
    assert element["attr"]["xmlns"] == NS
    return element


def janus(data, secret=SECRET):
    return (
        data
        + ":"
        + base64.b64encode(hmac.new(secret.encode(), data.encode(), hashlib.sha1).digest()).decode()
    )


def turn_credential(username, secret=TURN_SECRET):
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def invite_key(purpose, secret=INVITE_SECRET):
    label = f"teletreball-video:{purpose}".encode()
    return hmac.new(secret.encode(), label, hashlib.sha256).digest()


def sign(body, secret=INVITE_SECRET):
    """A code of the module's format for ``body`` ("1.<room>.<expiry>.<tag>")."""
    return (
        body
        + "."
        + b64url(hmac.new(invite_key("invite", secret), body.encode(), hashlib.sha256).digest())
    )


def inviter_tag(bare, secret=INVITE_SECRET):
    digest = hmac.new(invite_key("inviter", secret), bare.encode(), hashlib.sha256).digest()
    return b64url(digest[:9])


def code_of(url):
    assert url.startswith(INVITE_URL + "?invite=")
    return url[len(INVITE_URL + "?invite=") :]


def expected_ice(until):
    return [
        {"urls": "stun:turn.prova.teletreball.test:3478"},
        {
            "urls": "turn:turn.prova.teletreball.test:3478?transport=udp",
            "username": str(until),
            "credential": turn_credential(str(until)),
        },
        {
            "urls": "turns:turn.prova.teletreball.test:5349?transport=tcp",
            "username": str(until),
            "credential": turn_credential(str(until)),
        },
    ]


def logs(outcome, level):
    return [line["message"] for line in outcome["logs"] if line["level"] == level]


# ---------- Joining: members get tokens ----------


def test_a_member_gets_both_janus_tokens_signed_with_the_secret(tmp_path):
    outcome = run(tmp_path, [join(person("anna"), f"ple@{MUC}")])
    video = payload(outcome["results"][0])
    core_expiry = NOW + 36000
    assert video["name"] == "video"
    assert video["attr"] == {
        "xmlns": NS,
        "room": "ple",
        "server": SERVER,
        "expires": str(core_expiry),
    }
    children = {child["name"]: child for child in video["children"] if child["name"] != "ice"}
    assert children["token"]["text"] == janus(f"{core_expiry},janus,janus.plugin.videoroom")
    assert children["room-token"]["text"] == janus(f"{NOW + 120},janus.plugin.videoroom,room=ple")
    # Janus splits the token once on ':' and the data on ',': exactly as it reads it.
    data, signature = children["token"]["text"].split(":")
    assert data.split(",") == [str(core_expiry), "janus", "janus.plugin.videoroom"]
    assert base64.b64decode(signature, validate=True)
    assert logs(outcome, "info") == [f"teletreball-video: token for anna@{HOST} in ple@{MUC}"]
    assert logs(outcome, "warn") == []


def test_the_ice_servers_carry_turn_credentials_ending_with_the_session(tmp_path):
    outcome = run(tmp_path, [join(person("anna"), f"ple@{MUC}")])
    ice = [
        child["attr"]
        for child in payload(outcome["results"][0])["children"]
        if child["name"] == "ice"
    ]
    # TURN's ttl (a day) is longer than the session (10 h): the session wins.
    assert ice == expected_ice(NOW + 36000)


def test_shorter_turn_credentials_keep_their_own_ttl(tmp_path):
    services = [dict(TURN[1], ttl=3600), dict(TURN[0], host="2001:db8::1")]
    outcome = run(
        tmp_path, [join(person("anna"), f"ple@{MUC}")], options={"external_services": services}
    )
    ice = [child["attr"] for child in payload(outcome["results"][0])["children"]]
    ice = [attr for attr in ice if "urls" in attr]
    assert ice == [
        {
            "urls": "turn:turn.prova.teletreball.test:3478?transport=udp",
            "username": str(NOW + 3600),
            "credential": turn_credential(str(NOW + 3600)),
        },
        {"urls": "stun:[2001:db8::1]:3478"},
    ]


def test_turn_without_a_secret_is_left_out(tmp_path):
    outcome = run(tmp_path, [join(person("anna"), f"ple@{MUC}")], drop=["external_service_secret"])
    ice = [
        child["attr"]
        for child in payload(outcome["results"][0])["children"]
        if child["name"] == "ice"
    ]
    assert ice == [{"urls": "stun:turn.prova.teletreball.test:3478"}]
    assert sum("has no credentials" in line for line in logs(outcome, "warn")) == 2


def test_the_lifetimes_come_from_the_options(tmp_path):
    outcome = run(
        tmp_path,
        [join(person("marta"), f"ple@{MUC}")],
        options={"teletreball_video_session_lifetime": 600, "teletreball_video_join_lifetime": 30},
    )
    video = payload(outcome["results"][0])
    tokens = {child["name"]: child["text"] for child in video["children"] if child["name"] != "ice"}
    assert video["attr"]["expires"] == str(NOW + 600)
    assert tokens["token"].startswith(f"{NOW + 600},janus,")
    assert tokens["room-token"] == janus(f"{NOW + 30},janus.plugin.videoroom,room=ple")


@pytest.mark.parametrize("name", ["anna", "pau", "marta"])
def test_members_admins_and_owners_get_tokens(tmp_path, name):
    outcome = run(tmp_path, [join(person(name), f"ple@{MUC}")])
    assert payload(outcome["results"][0])["attr"]["room"] == "ple"


def test_the_room_address_is_case_insensitive(tmp_path):
    outcome = run(tmp_path, [join(person("anna"), f"PLE@{MUC.upper()}")])
    assert payload(outcome["results"][0])["attr"]["room"] == "ple"


# ---------- Joining: everybody else is refused ----------


@pytest.mark.parametrize(
    ("origin", "why"),
    [
        (person("anna", host="guest.prova.teletreball.test"), "another host's client"),
        (person("anna", kind="c2s_unauthed"), "not signed in"),
        ({"type": "component", "host": MUC}, "a component"),
        ({"type": "s2sin", "host": "elsewhere.example"}, "another server"),
    ],
)
def test_only_signed_in_clients_of_the_host_may_ask(tmp_path, origin, why):
    outcome = run(tmp_path, [join(origin, f"ple@{MUC}"), invite(origin, f"ple@{MUC}", "600")])
    for result in outcome["results"]:
        kind, condition, _ = error_of(result)
        assert (kind, condition) == ("auth", "forbidden"), why
    assert logs(outcome, "info") == []
    assert len(logs(outcome, "warn")) == 2
    assert all("not a signed-in client of " + HOST in line for line in logs(outcome, "warn"))


ROOM_REFUSALS = [
    ("anna", "nobody@" + MUC, "not in teletreball_video_rooms"),  # no such room
    ("anna", "arxiu@" + MUC, "not in teletreball_video_rooms"),  # exists, no video
    ("anna", "gone@" + MUC, "no such room in the MUC"),  # video, not in the MUC
    ("anna", "open@" + MUC, "the room is not members-only"),
    ("anna", "urbanisme@" + MUC, "not an owner, admin or member"),  # not hers
    ("pere", "ple@" + MUC, "not an owner, admin or member"),  # outcast
    ("nuria", "ple@" + MUC, "not an owner, admin or member"),  # no affiliation
    ("anna", "ple@conference.example", "not a room of " + MUC),
    ("anna", f"ple@{MUC}/anna", "not a room of " + MUC),
    ("anna", MUC, "not a room of " + MUC),
    ("anna", "a,b@" + MUC, "not a room of " + MUC),
    ("anna", "@@", "not a JID"),
]


@pytest.mark.parametrize(("name", "room", "reason"), ROOM_REFUSALS)
def test_every_refusal_about_a_room_is_the_same_item_not_found(tmp_path, name, room, reason):
    outcome = run(tmp_path, [join(person(name), room), join(person("anna"), "nobody@" + MUC)])
    refused, unknown = outcome["results"]
    kind, condition, error = error_of(refused)
    assert (kind, condition) == ("cancel", "item-not-found")
    # Word for word the answer for a room that does not exist: nothing tells a
    # hidden room with or without video, or somebody else's, from no room at all.
    assert error == error_of(unknown)[2]
    (warning, _) = logs(outcome, "warn")
    assert warning.startswith(f"teletreball-video: refused a token of {name}@{HOST} for {room}: ")
    assert reason in warning
    assert logs(outcome, "info") == []


def test_without_the_muc_component_nobody_gets_a_token(tmp_path):
    outcome = run(tmp_path, [join(person("anna"), f"ple@{MUC}")], muc=False)
    assert error_of(outcome["results"][0])[:2] == ("cancel", "item-not-found")
    assert "is not a MUC component" in logs(outcome, "warn")[0]


def test_a_request_without_a_room_is_a_bad_request(tmp_path):
    step = join(person("anna"), None)
    outcome = run(tmp_path, [step])
    assert error_of(outcome["results"][0])[:2] == ("modify", "bad-request")


def test_bad_room_names_in_the_settings_are_left_out(tmp_path):
    rooms = {
        f"{name}@{MUC}": {"members_only": True, "affiliations": {f"anna@{HOST}": "member"}}
        for name in ["a,b", "c:d", "Ple", "ple"]
    }
    steps = [join(person("anna"), f"{name}@{MUC}") for name in ["a,b", "c:d", "ple"]]
    outcome = run(
        tmp_path,
        steps,
        options={"teletreball_video_rooms": ["a,b", "c:d", "Ple", "ple"]},
        rooms=rooms,
    )
    errors = [line for line in logs(outcome, "error") if "is not a room name" in line]
    assert len(errors) == 3
    first, second, third = outcome["results"]
    assert error_of(first)[1] == error_of(second)[1] == "item-not-found"
    assert payload(third)["attr"]["room"] == "ple"


@pytest.mark.parametrize(
    "missing", ["teletreball_video_secret", "teletreball_video_muc", "teletreball_video_server"]
)
def test_without_a_required_setting_the_module_refuses_everything(tmp_path, missing):
    outcome = run(
        tmp_path,
        [
            join(person("anna"), f"ple@{MUC}"),
            invite(person("anna"), f"ple@{MUC}", "600"),
            redeem({"invite": "1.x.1.x.x"}),
        ],
        drop=[missing],
    )
    assert outcome["status"] == {"kind": "error", "message": f"{missing} is not set"}
    assert f"teletreball-video: {missing} is not set" in logs(outcome, "error")
    joined, invited, redeemed = outcome["results"]
    assert error_of(joined)[:2] == ("cancel", "service-unavailable")
    assert error_of(invited)[:2] == ("cancel", "service-unavailable")
    assert redeemed["status"] == 503
    assert json.loads(redeemed["body"]) == {"error": "video is not available"}
    assert logs(outcome, "info") == []


# ---------- Invitations ----------


def test_an_invitation_carries_room_expiry_a_tag_and_a_mac(tmp_path):
    outcome = run(tmp_path, [invite(person("anna"), f"ple@{MUC}", "3600")])
    element = payload(outcome["results"][0])
    assert element["name"] == "invite"
    assert element["attr"]["expires"] == str(NOW + 3600)
    code = code_of(element["attr"]["url"])
    tag = inviter_tag(f"anna@{HOST}")
    assert code == sign(f"1.{b64url(b'ple')}.{NOW + 3600}.{tag}")
    # URL-safe as it is, and without the inviter's address in any form.
    assert all(c.isalnum() or c in "-_." for c in code)
    assert "anna" not in code and b64url(f"anna@{HOST}".encode())[:8] not in code
    assert logs(outcome, "info") == [
        f"teletreball-video: invitation {tag} by anna@{HOST} to ple@{MUC} until {NOW + 3600}"
    ]


@pytest.mark.parametrize(
    ("seconds", "lifetime", "invite_max"),
    [
        ("1", 60, None),
        ("0", 60, None),
        ("60", 60, None),
        ("600", 600, None),
        ("86400", 86400, None),
        ("999999999999999999999999", 86400, None),
        ("7200", 3600, 3600),
        ("30", 60, 30),
    ],
)
def test_the_invitation_lifetime_is_clamped(tmp_path, seconds, lifetime, invite_max):
    options = {"teletreball_video_invite_max": invite_max} if invite_max else {}
    outcome = run(tmp_path, [invite(person("pau"), f"urbanisme@{MUC}", seconds)], options=options)
    assert payload(outcome["results"][0])["attr"]["expires"] == str(NOW + lifetime)


@pytest.mark.parametrize("seconds", [None, "", "-5", "1e3", "ten", "60.5"])
def test_the_seconds_must_be_a_whole_number(tmp_path, seconds):
    outcome = run(tmp_path, [invite(person("anna"), f"ple@{MUC}", seconds)])
    assert error_of(outcome["results"][0])[:2] == ("modify", "bad-request")


def test_only_members_invite_and_with_the_same_answer_as_for_no_room(tmp_path):
    outcome = run(
        tmp_path,
        [
            invite(person("anna"), f"urbanisme@{MUC}", "600"),
            invite(person("anna"), f"arxiu@{MUC}", "600"),
            invite(person("anna"), f"nobody@{MUC}", "600"),
        ],
    )
    errors = [error_of(result) for result in outcome["results"]]
    assert {(kind, condition) for kind, condition, _ in errors} == {("cancel", "item-not-found")}
    assert errors[0][2] == errors[1][2] == errors[2][2]
    assert len(logs(outcome, "warn")) == 3 and logs(outcome, "info") == []


@pytest.mark.parametrize(
    "drop", ["teletreball_video_invite_secret", "teletreball_video_invite_url"]
)
def test_invitations_are_off_without_their_settings(tmp_path, drop):
    outcome = run(
        tmp_path,
        [
            invite(person("anna"), f"ple@{MUC}", "600"),
            join(person("anna"), f"ple@{MUC}"),
            redeem({"invite": sign(f"1.{b64url(b'ple')}.{NOW + 600}.x")}),
        ],
        drop=[drop],
    )
    invited, joined, redeemed = outcome["results"]
    assert error_of(invited)[:2] == ("cancel", "feature-not-implemented")
    assert payload(joined)["name"] == "video"  # joining still works
    assert redeemed["status"] == 403
    assert "invitations are off" in logs(outcome, "warn")[-1]


# ---------- Redeeming an invitation over HTTP ----------


def test_the_http_app_is_post_invite_under_the_module_path(tmp_path):
    outcome = run(tmp_path, [])
    assert outcome["apps"] == {"teletreball_video": {"routes": ["POST /invite"], "cors": False}}
    assert outcome["depends"] == ["http"]
    assert outcome["features"] == [NS]
    assert outcome["hooks"] == [f"iq-get/host/{NS}:video", f"iq-set/host/{NS}:invite"]


def issue(tmp_path, seconds="3600", name="anna", room="ple", **kwargs):
    outcome = run(tmp_path, [invite(person(name), f"{room}@{MUC}", seconds)], **kwargs)
    return code_of(payload(outcome["results"][0])["attr"]["url"])


def test_a_valid_invitation_gives_a_guest_both_tokens(tmp_path):
    code = issue(tmp_path, "3600")
    later = NOW + 100
    outcome = run(tmp_path, [redeem({"invite": code}, at=later)])
    (result,) = outcome["results"]
    assert result["status"] == 200
    assert result["headers"] == {"content_type": "application/json", "cache_control": "no-store"}
    body = json.loads(result["body"])
    expiry = NOW + 3600  # the invitation's, before the session lifetime's
    assert body == {
        "room": "ple",
        "server": SERVER,
        "guest": True,
        "expires": expiry,
        "token": janus(f"{expiry},janus,janus.plugin.videoroom"),
        "room_token": janus(f"{later + 120},janus.plugin.videoroom,room=ple"),
        "ice": expected_ice(expiry),
    }
    tag = inviter_tag(f"anna@{HOST}")
    assert logs(outcome, "info") == [
        f"teletreball-video: guest token in ple@{MUC} for 192.0.2.10 (invitation {tag})"
    ]


def test_a_guest_session_lasts_no_longer_than_the_session_lifetime(tmp_path):
    code = issue(tmp_path, "86400")
    outcome = run(tmp_path, [redeem({"invite": code}, at=NOW + 10)])
    body = json.loads(outcome["results"][0]["body"])
    assert body["expires"] == NOW + 10 + 36000
    assert body["token"] == janus(f"{NOW + 10 + 36000},janus,janus.plugin.videoroom")


def test_the_room_token_never_outlives_the_invitation(tmp_path):
    code = issue(tmp_path, "60")
    outcome = run(tmp_path, [redeem({"invite": code}, at=NOW + 50)])
    body = json.loads(outcome["results"][0]["body"])
    assert body["expires"] == NOW + 60
    assert body["room_token"] == janus(f"{NOW + 60},janus.plugin.videoroom,room=ple")


def test_without_turn_the_ice_list_is_an_empty_json_array(tmp_path):
    code = issue(tmp_path)
    outcome = run(tmp_path, [redeem({"invite": code})], drop=["external_services"])
    assert '"ice": []' in outcome["results"][0]["body"]


def tampered(code):
    version, room, expiry, tag, mac = code.split(".")
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    return {
        "another room": ".".join([version, b64url(b"urbanisme"), expiry, tag, mac]),
        "a later expiry": ".".join([version, room, str(int(expiry) + 3600), tag, mac]),
        "another tag": ".".join([version, room, expiry, inviter_tag(f"pau@{HOST}"), mac]),
        "another mac": ".".join([version, room, expiry, tag, flipped]),
        "a shorter mac": ".".join([version, room, expiry, tag, mac[:-1]]),
        "another version": ".".join(["2", room, expiry, tag, mac]),
        "another secret": sign(".".join([version, room, expiry, tag]), "guessed"),
        "padding": code + "=",
        "the url": INVITE_URL + "?invite=" + code,
    }


def test_an_altered_invitation_is_refused_with_the_one_answer(tmp_path):
    code = issue(tmp_path)
    variants = tampered(code)
    outcome = run(
        tmp_path,
        [redeem({"invite": value}, ip=f"192.0.2.{i}") for i, value in enumerate(variants.values())]
        + [redeem({"invite": code}, ip="192.0.2.200")],
    )
    *refused, accepted = outcome["results"]
    for name, result in zip(variants, refused, strict=True):
        assert result["status"] == 403, name
        assert json.loads(result["body"]) == {"error": "invalid invitation"}, name
    assert accepted["status"] == 200
    warnings = logs(outcome, "warn")
    assert len(warnings) == len(variants)
    assert all(
        line.startswith("teletreball-video: refused an invitation from 192.0.2.")
        for line in warnings
    )
    assert sum("wrong signature" in line for line in warnings) == 6
    assert sum(line.endswith(": not an invitation code") for line in warnings) == 3


def test_an_expired_invitation_is_refused(tmp_path):
    code = issue(tmp_path, "600")
    outcome = run(
        tmp_path,
        [
            redeem({"invite": code}, at=NOW + 599),
            redeem({"invite": code}, at=NOW + 600),
            redeem({"invite": code}, at=NOW + 6000),
        ],
    )
    assert [result["status"] for result in outcome["results"]] == [200, 403, 403]
    assert f"expired at {NOW + 600}" in logs(outcome, "warn")[0]


def test_an_invitation_longer_than_the_current_maximum_is_refused(tmp_path):
    code = issue(tmp_path, "86400")
    outcome = run(
        tmp_path, [redeem({"invite": code})], options={"teletreball_video_invite_max": 3600}
    )
    assert outcome["results"][0]["status"] == 403
    assert "longer than teletreball_video_invite_max" in logs(outcome, "warn")[0]


def test_an_invitation_dies_with_its_room_video(tmp_path):
    code = issue(tmp_path)
    without_video = run(
        tmp_path, [redeem({"invite": code})], options={"teletreball_video_rooms": ["urbanisme"]}
    )
    assert without_video["results"][0]["status"] == 403
    assert "not in teletreball_video_rooms" in logs(without_video, "warn")[0]
    rooms = {key: value for key, value in ROOMS.items() if not key.startswith("ple@")}
    deleted = run(tmp_path, [redeem({"invite": code})], rooms=rooms)
    assert deleted["results"][0]["status"] == 403
    assert "no such room in the MUC" in logs(deleted, "warn")[0]


def test_a_changed_invitation_secret_voids_every_invitation(tmp_path):
    code = issue(tmp_path)
    outcome = run(
        tmp_path, [redeem({"invite": code})], options={"teletreball_video_invite_secret": "rotated"}
    )
    assert outcome["results"][0]["status"] == 403


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[]",
        '"code"',
        "{}",
        '{"invite": 5}',
        '{"invite": null}',
        '{"code": "x"}',
        '{"invite": "x"} x',
    ],
)
def test_a_body_without_an_invitation_is_refused(tmp_path, body):
    outcome = run(tmp_path, [redeem(body)])
    result = outcome["results"][0]
    assert result["status"] == 403
    assert json.loads(result["body"]) == {"error": "invalid invitation"}


def test_bodies_over_4_kib_are_refused_unread(tmp_path):
    code = issue(tmp_path)
    exact = json.dumps({"invite": code})
    exact = exact[:-1] + " " * (4096 - len(exact)) + "}"
    assert len(exact) == 4096
    outcome = run(tmp_path, [redeem(exact), redeem(exact[:-1] + " }")])
    fits, too_big = outcome["results"]
    assert fits["status"] == 200
    assert too_big["status"] == 413
    assert json.loads(too_big["body"]) == {"error": "request too large"}
    assert "a body of 4097 bytes" in logs(outcome, "warn")[0]


def test_an_address_that_keeps_guessing_is_held_off(tmp_path):
    code = issue(tmp_path)
    guesses = [redeem({"invite": f"1.x.{NOW + 60}.t.{i}"}, at=NOW + i) for i in range(10)]
    outcome = run(
        tmp_path,
        guesses
        + [
            redeem({"invite": code}, at=NOW + 20),  # held off, valid or not
            redeem({"invite": code}, at=NOW + 20, ip="192.0.2.99"),  # another address
            redeem({"invite": code}, at=NOW + 599),  # window not over
            {"kind": "timer", "at": NOW + 600},  # forgotten
            redeem({"invite": code}, at=NOW + 600),
        ],
        options={"teletreball_video_invite_max": 86400},
    )
    statuses = [result.get("status") for result in outcome["results"]]
    assert statuses == [403] * 10 + [429, 200, 429, None, 200]
    assert json.loads(outcome["results"][10]["body"]) == {
        "error": "too many attempts; try again later"
    }
    assert outcome["results"][13] == {"again": 60}
    assert "10 refused attempts in 600 s" in logs(outcome, "warn")[10]


def test_a_valid_invitation_does_not_reset_the_count(tmp_path):
    code = issue(tmp_path)
    steps = []
    for i in range(5):
        steps += [
            redeem({"invite": "wrong"}, at=NOW + 2 * i),
            redeem({"invite": code}, at=NOW + 2 * i + 1),
        ]
    outcome = run(
        tmp_path,
        steps + [redeem({"invite": "wrong"}, at=NOW + 20), redeem({"invite": code}, at=NOW + 21)],
        options={
            "teletreball_video_redeem_max_failures": 6,
            "teletreball_video_redeem_failure_window": 60,
        },
    )
    statuses = [result["status"] for result in outcome["results"]]
    assert statuses == [403, 200] * 5 + [403, 429]
