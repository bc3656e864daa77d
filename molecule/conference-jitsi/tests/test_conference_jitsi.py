"""Jitsi Meet on the council's Prosody, in the conference-jitsi scenario.

conf is the chat server (Prosody, jicofo, the web client's configuration), jvb1
and jvb2 are videobridges, client runs the XMPP test client jitsi_client.py
(slixmpp). The scenario runs only where Jitsi's apt repository is reachable
(see its probe); elsewhere harness/run-tests reports it as skipped.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import tempfile
import time

import pytest
import testinfra

DOMAIN = "prova.teletreball.test"
GUEST = f"guest.{DOMAIN}"
AUTH = f"auth.{DOMAIN}"
MUC = f"conference.{DOMAIN}"
FOCUS = f"focus.{DOMAIN}"
BREWERY = f"jvbbrewery@internal.{AUTH}"
BRIDGES = ("jvb1", "jvb2")
PLUGIN_DIR = "/usr/local/lib/teletreball/prosody-modules"
KEYRING = "/etc/apt/keyrings/teletreball-jitsi.asc"
SOURCE = "/etc/apt/sources.list.d/teletreball-jitsi.sources"
CLIENT_SCRIPT = pathlib.Path(__file__).with_name("jitsi_client.py")
CREDENTIALS = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / (
    "credentials"
)
DEFAULTS = pathlib.Path(__file__).resolve().parents[3] / "roles/conference/defaults/main.yml"

testinfra_hosts = ["podman://conf"]


def host_named(name):
    return testinfra.get_host(f"podman://{name}")


def pinned_fingerprint() -> str:
    import yaml

    return yaml.safe_load(DEFAULTS.read_text(encoding="utf-8"))[
        "conference_jitsi_signing_key_fingerprint"
    ]


def xmpp(*arguments: str) -> dict:
    """Run jitsi_client.py on the client container and return its JSON answer."""
    client = host_named("client")
    target = "/root/jitsi_client.py"
    subprocess.run(["podman", "cp", str(CLIENT_SCRIPT), f"client:{target}"], check=True)
    quoted = " ".join(f"'{argument}'" for argument in arguments)
    result = client.run(f"timeout 90 python3 {target} {quoted}")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def brewery_occupants(host) -> str:
    return host.run(f"prosodyctl shell muc occupants {BREWERY}").stdout


@pytest.mark.parametrize(
    "package", ["jicofo", "jitsi-meet-prosody", "jitsi-meet-web"]
)
def test_the_chat_server_has_jitsis_server_packages(host, package):
    assert host.package(package).is_installed


@pytest.mark.parametrize(
    "package", ["jitsi-meet", "jitsi-meet-web-config", "jitsi-meet-turnserver"]
)
def test_the_chat_server_has_no_package_that_rewrites_its_web_server_or_coturn(host, package):
    assert not host.package(package).is_installed


@pytest.mark.parametrize("name", ["conf", *BRIDGES])
def test_jitsis_repository_is_trusted_only_with_the_pinned_key(name):
    node = host_named(name)
    source = node.file(SOURCE).content_string
    assert f"Signed-By: {KEYRING}" in source
    assert "Suites: stable/" in source
    with tempfile.TemporaryDirectory() as home:
        listing = subprocess.run(
            ["gpg", "--batch", "--no-options", "--homedir", home, "--with-colons", "--show-keys"],
            input=node.file(KEYRING).content_string, capture_output=True, text=True, check=True,
        ).stdout.splitlines()
    fingerprints = [line.split(":")[9] for line in listing if line.startswith("fpr:")]
    assert fingerprints[:1] == [pinned_fingerprint()]
    assert node.run("apt-cache policy jicofo").rc == 0


def test_jitsis_prosody_package_kept_the_roles_configuration(host):
    # Its install script adds its own host configuration unless this line exists.
    assert f'VirtualHost "{DOMAIN}"' in host.file("/etc/prosody/prosody.cfg.lua").content_string
    assert not host.file(f"/etc/prosody/conf.avail/{DOMAIN}.cfg.lua").exists
    assert 'Include "conf.d' not in host.file("/etc/prosody/prosody.cfg.lua").content_string


def test_jitsis_plugins_are_linked_one_by_one_and_shadow_no_core_module(host):
    config = host.file("/etc/prosody/prosody.cfg.lua").content_string
    assert "/usr/share/jitsi-meet/prosody-plugins" not in config
    assert host.file(f"{PLUGIN_DIR}/mod_client_proxy.lua").is_symlink
    assert not host.file(f"{PLUGIN_DIR}/mod_external_services.lua").exists
    check = host.run("prosodyctl check config")
    assert check.rc == 0, check.stdout + check.stderr


def test_jicofo_runs_with_its_private_configuration(host):
    assert host.service("jicofo").is_running
    config = host.file("/etc/jitsi/jicofo/jicofo.conf")
    assert config.mode == 0o640
    assert config.user == "jicofo"
    assert BREWERY in config.content_string


@pytest.mark.parametrize("name", BRIDGES)
def test_each_videobridge_runs_without_a_public_stun_server(name):
    node = host_named(name)
    assert node.service("jitsi-videobridge2").is_running
    assert node.socket("udp://0.0.0.0:10000").is_listening or node.socket(
        "udp://:::10000"
    ).is_listening
    properties = node.file("/etc/jitsi/videobridge/sip-communicator.properties").content_string
    active = [line for line in properties.splitlines() if line and not line.startswith("#")]
    assert active == [], "the package added settings to sip-communicator.properties"
    jvb = node.file("/etc/jitsi/videobridge/jvb.conf")
    assert jvb.mode == 0o640
    assert f'muc_nickname = "{name}"' in jvb.content_string


def test_jicofo_and_both_videobridges_join_the_brewery(host):
    deadline = time.monotonic() + 180
    occupants = ""
    while time.monotonic() < deadline:
        occupants = brewery_occupants(host)
        if all(bridge in occupants for bridge in BRIDGES) and "focus" in occupants:
            break
        time.sleep(5)
    for bridge in BRIDGES:
        assert bridge in occupants, occupants
    assert "focus" in occupants, occupants


def test_a_guest_cannot_join_the_brewery_to_pose_as_a_videobridge():
    answer = xmpp(GUEST, "-", "join", f"{BREWERY}/impostor")
    assert answer == {"ok": False, "condition": "registration-required"}


def test_a_guest_cannot_open_a_video_room_through_jicofo():
    answer = xmpp(GUEST, "-", "focus", FOCUS, f"guestroom@{MUC}")
    assert answer["ok"] is False
    assert answer["condition"] == "not-authorized"


def test_a_guest_cannot_create_a_room_on_the_video_rooms_service():
    answer = xmpp(GUEST, "-", "join", f"guestroom2@{MUC}/guest")
    assert answer == {"ok": False, "condition": "not-allowed"}


def test_a_member_of_staff_opens_a_video_room_and_a_guest_may_then_join_it():
    password = (CREDENTIALS / "people" / "anna" / "chat-password").read_text().strip()
    room = f"staffroom@{MUC}"
    opened = xmpp(f"anna@{DOMAIN}", password, "focus", FOCUS, room)
    assert opened == {"ok": True, "ready": "true"}
    joined = xmpp(GUEST, "-", "focus", FOCUS, room)
    assert joined == {"ok": True, "ready": "true"}
