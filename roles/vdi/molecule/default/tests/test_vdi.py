"""Remote desktops with a real RDP client: FreeRDP under Xvfb in a container.

Logins type the password followed by the TOTP code, computed by oathtool from
the secret in the QR code of the person's welcome pack. The tests that change
the inventory (group check, offboarding) are in test_vdi_offboarding.py, which
runs after this file.
"""

from __future__ import annotations

import json
import stat
import subprocess
import time
import urllib.parse

import pytest
from vdi_helpers import (
    CREDENTIALS,
    SCREENSHOTS,
    audit_params,
    can_connect,
    client,
    connect,
    disconnect,
    fresh_code,
    login_refused,
    outsider,
    password,
    session_processes,
    totp_uri,
    wait_for,
)

testinfra_hosts = ["podman://vdi-host"]


def session_started(host, username, timeout=60):
    return wait_for(
        lambda: {"Xorg", "xfce4-session"} <= set(session_processes(host, username)), timeout
    )


@pytest.mark.control("VDI-TLS-01")
def test_xrdp_offers_tls_only_with_the_pki_certificate_as_the_user_xrdp(host, control_check):
    # TLS only, TLS 1.2+, strong ciphers, the CA's certificate for vdi-host with its
    # key, xrdp running as xrdp confined by systemd and listening on 3389.
    control_check("VDI-TLS-01", audit_params())
    assert host.service("xrdp").is_enabled and host.service("xrdp-sesman").is_enabled


@pytest.mark.control("VDI-TLS-01")
def test_certificate_is_verified_and_rdp_security_refused(host):
    rdp = client()
    # The PKI certificate names vdi-host, not the address: a verifying client refuses it.
    by_address = rdp.run(
        "DISPLAY=:1 timeout 30 xfreerdp3 /v:10.89.40.10 /u:agent /p:x /cert:deny /sec:tls "
        "+auth-only"
    )
    assert by_address.rc != 0
    assert "CERTIFICATE NAME MISMATCH" in by_address.stdout + by_address.stderr
    # Standard RDP security (no TLS) is refused by the server.
    def refusals():
        return host.run("journalctl --no-pager -o cat -t xrdp").stdout.count(
            "Server requires TLS for security")
    before = refusals()
    legacy = rdp.run(
        "DISPLAY=:1 timeout 30 xfreerdp3 /v:vdi-host /u:agent /p:x /cert:ignore /sec:rdp +auth-only"
    )
    assert legacy.rc != 0
    assert wait_for(lambda: refusals() > before, 10)


@pytest.mark.control("VDI-NET-01")
def test_the_firewall_opens_rdp_to_the_vpn_only(control_check):
    control_check("VDI-NET-01", audit_params())


@pytest.mark.control("VDI-NET-01")
def test_only_the_vpn_reaches_rdp():
    assert can_connect(client()), "the VPN gateway's address must reach RDP"
    assert not can_connect(outsider()), "an address outside the VPN reaches RDP"


@pytest.mark.control("VDI-MFA-01")
def test_the_pam_stack_asks_for_the_code_and_the_password(control_check):
    control_check("VDI-MFA-01", audit_params())


@pytest.mark.control("VDI-MFA-01")
def test_wrong_password_with_right_code_is_refused(host):
    assert login_refused(host, "agent", "not-the-password" + fresh_code("agent"))


@pytest.mark.control("VDI-MFA-01")
def test_password_and_code_open_a_desktop(host):
    text = password("agent") + fresh_code("agent")
    connect("agent", text)
    assert session_started(host, "agent"), host.check_output(
        "journalctl --no-pager -n 40 -o cat -t xrdp-sesexec -t xrdp-sesman -t xrdp"
    )
    # The desktop draws itself, then the client's screen is saved.
    time.sleep(12)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    rdp = client()
    rdp.check_output("DISPLAY=:1 import -window root /tmp/vdi-desktop.png")
    colours = int(rdp.check_output("convert /tmp/vdi-desktop.png -format %k info:"))
    subprocess.run(
        ["podman", "cp", "rdp-client:/tmp/vdi-desktop.png", str(SCREENSHOTS / "vdi-desktop.png")],
        check=True,
    )
    print(f"screenshot: {SCREENSHOTS / 'vdi-desktop.png'} ({colours} colours)")
    # A blank or login screen has a handful of colours; the XFCE desktop has many.
    assert colours > 100
    # The session runs as the person, in the council's language.
    environ = host.check_output(
        "cat /proc/$(pgrep -u agent -x xfce4-session | head -1)/environ | tr '\\0' '\\n'"
    )
    assert "LANG=ca_ES.UTF-8" in environ
    disconnect()
    pytest.reused_code = text[-6:]


@pytest.mark.control("VDI-MFA-01")
def test_a_used_code_is_refused(host):
    used = getattr(pytest, "reused_code", None)
    assert used, "the login test did not run"
    assert login_refused(host, "agent", password("agent") + used)


@pytest.mark.control("VDI-MFA-01")
def test_a_wrong_code_and_the_password_alone_are_refused(host):
    right = fresh_code("agent")
    wrong = f"{(int(right) + 500_000) % 1_000_000:06d}"
    assert login_refused(host, "agent", password("agent") + wrong)
    assert login_refused(host, "agent", password("agent"))


@pytest.mark.control("VDI-DLP-01")
def test_no_drive_and_no_clipboard_out_of_the_session_is_configured(control_check):
    control_check("VDI-DLP-01", audit_params())


@pytest.mark.control("VDI-DLP-01")
def test_clipboard_goes_into_the_session_but_not_out(host):
    connect("agent", password("agent") + fresh_code("agent"), extra="+clipboard")
    assert session_started(host, "agent")
    time.sleep(8)
    session = "runuser -u agent -- env DISPLAY=:10 XAUTHORITY=/home/agent/.Xauthority"
    rdp = client()
    # Into the session: copied on the person's computer, pasted on the desktop.
    rdp.check_output("printf from-home | DISPLAY=:1 xclip -selection clipboard -loops 5")
    pasted = wait_for(
        lambda: host.run(f"{session} xclip -o -selection clipboard").stdout == "from-home", 20)
    assert pasted, "the clipboard did not reach the session (the channel is not working)"
    # Out of the session: copied on the desktop, never on the person's computer.
    host.check_output(f"printf secret-data | {session} xclip -selection clipboard -loops 5")
    leaked = wait_for(
        lambda: rdp.run("DISPLAY=:1 timeout 5 xclip -o -selection clipboard").stdout
        == "secret-data", 15)
    assert not leaked, "text copied in the session reached the person's computer"


@pytest.mark.control("VDI-SES-01")
def test_the_session_limits_are_those_of_the_inventory(control_check):
    control_check("VDI-SES-01", audit_params())


@pytest.mark.control("VDI-SES-01")
def test_a_disconnected_session_is_ended_after_the_limit(host, measurement):
    connect("agent", password("agent") + fresh_code("agent"))
    assert session_started(host, "agent")
    disconnect()
    start = time.time()
    ended = wait_for(lambda: "Xorg" not in session_processes(host, "agent"), timeout=180, step=5)
    measurement(f"vdi: disconnected session ended {time.time() - start:.0f} s after the "
                "disconnect (limit 60 s)")
    assert ended, "the disconnected session is still running"


@pytest.mark.control("VDI-ACC-01")
def test_accounts_only_for_people_with_a_desktop(host, control_check):
    # sesman lets in the login group only, never root; its members are agent and clerk.
    control_check("VDI-ACC-01", audit_params())
    assert not host.user("mayor").exists  # desktop: false
    assert host.check_output("passwd -S agent").split()[1] == "P"


@pytest.mark.control("VDI-MFA-01")
def test_welcome_pack_holds_the_host_and_a_working_qr_code():
    folder = CREDENTIALS / "people" / "agent"
    for name in ("desktop.md", "desktop-totp.txt", "desktop-totp.png", "desktop-totp"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    assert "**vdi-host**" in (folder / "desktop.md").read_text()
    uri = totp_uri("agent")
    assert uri == (folder / "desktop-totp.txt").read_text().strip()
    parts = urllib.parse.urlsplit(uri)
    query = urllib.parse.parse_qs(parts.query)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert urllib.parse.unquote(parts.path) == "/Ajuntament de Prova:agent@prova.teletreball.test"
    assert query["digits"] == ["6"] and query["period"] == ["30"]
    account = json.loads((folder / "account.json").read_text())
    assert account["desktop"] is True
    assert not (CREDENTIALS / "people" / "mayor" / "desktop.md").exists()
