"""Helpers of the conference scenario: the real XMPP client on the client container."""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import sys

import testinfra
import yaml

CREDENTIALS = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / (
    "credentials"
)
DOMAIN = "prova.teletreball.test"
ROOMS = f"rooms.{DOMAIN}"
XMPP_CHECK = "/usr/local/lib/teletreball-tests/xmpp_check.py"
REPO = pathlib.Path(__file__).resolve().parents[5]


def client():
    return testinfra.get_host("podman://client")


def outsider():
    """A machine of the council's network that is not a VPN device."""
    return testinfra.get_host("podman://lanhost")


def server():
    return testinfra.get_host("podman://conf")


def pack_folder(username):
    """The person's welcome pack, or its archive once they are offboarded."""
    folder = CREDENTIALS / "people" / username
    if folder.exists():
        return folder
    return sorted((CREDENTIALS / "archive").glob(f"{username}-*"))[-1]


def password(username):
    return (pack_folder(username) / "chat-password").read_text().strip()


def jid(username):
    return f"{username}@{DOMAIN}"


def xmpp(command, *arguments, passwords=()):
    """Run the slixmpp client on the client container; its JSON answer."""
    env = " ".join(
        f"{name}={shlex.quote(value)}"
        for name, value in zip(("XMPP_PASSWORD", "XMPP_PASSWORD2"), passwords, strict=False))
    line = f"env {env} python3 {XMPP_CHECK} {command} " + " ".join(
        shlex.quote(a) for a in arguments)
    out = client().check_output(line)
    return json.loads(out.splitlines()[-1])


def scenario_staff():
    """The scenario's staff directory, as molecule.yml lists it."""
    scenario = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "molecule.yml"
    data = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    return data["provisioner"]["inventory"]["group_vars"]["all"]["teletreball_staff"]


def audit_params(staff=None, **changes):
    """The params roles/conference/tasks/audit.yml computes for the live checks, from
    this scenario's inventory (molecule.yml, the role's defaults) and ``staff`` (the
    directory as the last converge had it; default: molecule.yml's). The rooms'
    affiliations come from the role's own filter (teletreball_chat_rooms)."""
    sys.path.insert(0, str(REPO / "filter_plugins"))
    from teletreball_filters import chat_rooms

    scenario = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "molecule.yml"
    inventory = yaml.safe_load(scenario.read_text(encoding="utf-8"))["provisioner"]["inventory"]
    group_vars = inventory["group_vars"]
    access = group_vars["all"]["teletreball_access"]["chat"]
    server = group_vars["conference_servers"]
    defaults = yaml.safe_load((REPO / "roles" / "conference" / "defaults" / "main.yml")
                              .read_text(encoding="utf-8"))
    people = [p for p in (scenario_staff() if staff is None else staff)
              if p.get("state", "present") == "present" and set(p["groups"]) & set(access)]
    rooms = server["conference_rooms"]
    params = {
        "domain": DOMAIN, "muc_host": ROOMS, "web_name": DOMAIN,
        "ca_file": "/etc/teletreball/pki/ca.crt", "http_port": 5280, "c2s_port": 5222,
        "tls_profile": "intermediate",
        "chat_people": [p["username"] for p in people],
        "rooms": chat_rooms(rooms, people, DOMAIN, "it_admins"),
        "archive_dir": "/var/backups/teletreball/chat", "public_login": False,
        "guests": False, "guest_host": f"guest.{DOMAIN}",
        "login_max_failures": server["conference_login_max_failures"],
        "login_failure_window": server["conference_login_failure_window"],
        "chat_networks": [group_vars["all"]["teletreball_networks"]["vpn_pool"],
                          *server["conference_chat_extra_sources"]],
        "http_redirect": False,
        "converse_version": defaults["conference_converse_version"],
        "converse_sha512": defaults["conference_converse_sha512"],
        "manage_turn": True, "turn_denied_peers": defaults["conference_turn_denied_peers"],
        "turn_allowed_peers": server["conference_turn_allowed_peers"],
        "turn_credentials_ttl": defaults["conference_turn_credentials_ttl"],
        "manage_video": True,
        "video_rooms": [r["name"] for r in rooms if r.get("state", "present") == "present"
                        and r.get("video", True)],
        "janus_ws_port": 8188, "video_invitations": True,
        "video_invitation_max_hours": defaults["conference_video_invitation_max_hours"],
    }
    params.update(changes)
    return params
