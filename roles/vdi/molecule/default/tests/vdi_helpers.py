"""Helpers of the vdi scenario: the RDP client, the codes, the session host."""

from __future__ import annotations

import os
import pathlib
import subprocess
import time
import urllib.parse

import testinfra
from teletreball_testinfra import wait_for

CREDENTIALS = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / (
    "credentials"
)
SERVER = "vdi-host"
SCREENSHOTS = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / (
    "screenshots"
)


def client():
    return testinfra.get_host("podman://rdp-client")


def outsider():
    return testinfra.get_host("podman://outsider")


def pack_folder(username):
    """The person's welcome pack, or its archive once they are offboarded."""
    folder = CREDENTIALS / "people" / username
    if folder.exists():
        return folder
    return sorted((CREDENTIALS / "archive").glob(f"{username}-*"))[-1]


def password(username):
    return (pack_folder(username) / "desktop-password").read_text().strip()


def totp_uri(username):
    """The otpauth:// URI as the person's phone reads it: decoded from the QR code."""
    png = pack_folder(username) / "desktop-totp.png"
    return subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(png)], capture_output=True, text=True, check=True,
    ).stdout.strip()


def base32_secret(username):
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(totp_uri(username)).query)
    return query["secret"][0]


def code(username, at=None):
    """The TOTP code of ``username`` at the UNIX time ``at`` (now by default),
    computed on the client by oathtool from the secret in the QR code."""
    at = int(time.time()) if at is None else int(at)
    return client().check_output(
        f"oathtool --totp --base32 --now @{at} {base32_secret(username)}"
    ).strip()


_LAST_STEP: dict[str, int] = {}


def fresh_code(username):
    """A code of a 30-second step later than any code used before for ``username``.

    pam_oath refuses a code not newer than the last accepted one (replay), and
    accepts the steps of vdi_totp_window (2) around now: a future step is used
    instead of waiting, and we wait only when it would be too far ahead.
    """
    now = int(time.time())
    step = max(now // 30, _LAST_STEP.get(username, -1) + 1)
    ahead = step * 30 - now
    if ahead > 45:
        time.sleep(ahead - 45)
    _LAST_STEP[username] = step
    return code(username, at=step * 30 + 1)


def login_results(host, username):
    """How many logins of ``username`` xrdp-sesman has refused and accepted so far.

    A refusal is logged at once as "AUTHFAIL: user=<user>" (wrong password or
    code) or "User <user> is not in TerminalServerUsers group"; an acceptance as
    "Access permitted for user: <user>".
    """
    log = host.run("journalctl --no-pager -o cat -t xrdp-sesman -t xrdp-sesexec").stdout
    refused = log.count(f"AUTHFAIL: user={username} ") + log.count(
        f"User {username} is not in TerminalServerUsers group")
    accepted = log.count(f"Access permitted for user: {username}\n")
    return refused, accepted


def session_processes(host, username):
    """Commands of ``username``'s processes on the session host."""
    result = host.run(f"ps -o comm= -u {username}")
    return result.stdout.split() if result.rc == 0 else []


def connect(username, secret_text, extra=""):
    """Start FreeRDP on the client's virtual screen; it runs until disconnect()."""
    rdp = client()
    disconnect()
    result = rdp.run(
        "systemd-run --unit tt-rdp -E DISPLAY=:1 -E HOME=/root "
        "-p StandardOutput=file:/run/tt-rdp.log -p StandardError=file:/run/tt-rdp.log "
        f"xfreerdp3 /v:{SERVER} /u:{username} /p:{secret_text} /cert:deny /sec:tls "
        f"/size:1280x800 -grab-keyboard {extra}"
    )
    assert result.rc == 0, result.stderr
    return rdp


def disconnect():
    rdp = client()
    rdp.run("systemctl stop tt-rdp")
    rdp.run("systemctl reset-failed tt-rdp")



def login_refused(host, username, secret_text):
    """Try to log in; True when sesman refused it (and accepted nothing meanwhile)."""
    refused, accepted = login_results(host, username)
    connect(username, secret_text)
    wait_for(lambda: login_results(host, username) != (refused, accepted), timeout=30)
    now_refused, now_accepted = login_results(host, username)
    disconnect()
    return now_refused == refused + 1 and now_accepted == accepted


def can_connect(machine, port=3389):
    return machine.run(f"timeout 4 bash -c '</dev/tcp/{SERVER}/{port}'").rc == 0
