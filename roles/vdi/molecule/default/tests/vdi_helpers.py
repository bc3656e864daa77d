"""Helpers of the vdi scenario: the RDP client, the codes, the session host."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import time
import urllib.parse

import testinfra
from teletreball_testinfra import REPO_ROOT, load_repo_module, scenario_group_vars, wait_for

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


def directory(staff=None):
    """The staff directory as the preflight derives it for this scenario
    (module_utils/teletreball_directory.py, the addresses of the credentials folder)."""
    inventory = scenario_group_vars("all")
    builder = load_repo_module("ansible.module_utils.teletreball_directory",
                           REPO_ROOT / "module_utils" / "teletreball_directory.py")
    state = json.loads((CREDENTIALS / "vpn-addresses.json").read_text(encoding="utf-8"))
    return builder.build_directory(inventory["teletreball_staff"] if staff is None else staff,
                                   inventory["teletreball_access"], state,
                                   desktop_hosts=[SERVER])


def audit_params(staff=None):
    """The params roles/vdi/tasks/audit.yml (and, for TT-ID-01,
    roles/teletreball/tasks/audit.yml) pass the live checks, for this scenario: the
    role's defaults with the scenario's group_vars, the people of the directory as
    the role selects them (_vdi_people) and its RDP sources (_vdi_rdp_sources, with
    the role's filter teletreball_vpn_access_rules)."""
    inventory, host_vars = scenario_group_vars("all"), scenario_group_vars("vdi_hosts")
    derived = directory(staff)
    filters = load_repo_module("tt_vdi_test_filters",
                           REPO_ROOT / "filter_plugins" / "teletreball_filters.py")
    people = [p for p in derived["people"]
              if p["state"] == "present" and p["desktop"] and p["desktop_host"] == SERVER]
    desktop = [rule for rule in filters.vpn_access_rules(
        derived, inventory["teletreball_services"], inventory["teletreball_networks"])
        if rule["service"] == "desktop"]
    sources = (desktop[0]["sources"] if desktop else []) + list(
        host_vars.get("vdi_vpn_gateway_addresses", [])) + list(
        host_vars.get("vdi_rdp_extra_sources", []))
    return {
        "vdi_port": 3389, "vdi_tls_min_version": "TLSv1.2",
        "vdi_tls_ciphers": "ECDHE+AESGCM:ECDHE+CHACHA20", "vdi_address": SERVER,
        "vdi_ca_file": "/etc/teletreball/pki/ca.crt", "vdi_login_group": "remote-desktop",
        "vdi_totp_window": 2,
        "vdi_idle_time_limit": host_vars.get("vdi_idle_time_limit", 3600),
        "vdi_disconnected_time_limit": host_vars.get("vdi_disconnected_time_limit", 1800),
        "vdi_kill_disconnected": True, "vdi_max_sessions": 50,
        "vdi_archive_dir": "/var/backups/teletreball/desktops",
        "vdi_users": [p["username"] for p in people],
        "vdi_rdp_sources": list(dict.fromkeys(sources)),
        "vdi_absent_people": derived["absent"],
        "tt_desktop_identities": {p["username"]: p["identity"] for p in people},
    }
