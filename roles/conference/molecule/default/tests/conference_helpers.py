"""Helpers of the conference scenario: the real XMPP client on the client container."""

from __future__ import annotations

import json
import os
import pathlib
import shlex

import testinfra

CREDENTIALS = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / (
    "credentials"
)
DOMAIN = "prova.teletreball.test"
ROOMS = f"rooms.{DOMAIN}"
XMPP_CHECK = "/usr/local/lib/teletreball-tests/xmpp_check.py"


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
