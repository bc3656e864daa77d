"""Offboarding: the remote worker is marked absent and site.yml runs again.

Her VPN handshake, her desktop login, her softphone's registration and her chat
login all fail (the last three tried through an IT administrator's tunnel, so
the refusal is the service's own, not only the missing tunnel); her data is
kept and then archived, never deleted. The offboarding run is made with -vvv
and prints none of the credentials folder's secrets (TT-SEC-01)."""

from __future__ import annotations

import json

import pytest
from stack_helpers import (
    CREDENTIALS,
    DOMAIN,
    PACK,
    WORKER,
    WORKER_DESKTOP,
    chat,
    copy_to_home,
    credential_secrets,
    handshake_seconds,
    lab_vars,
    machine,
    rdp_disconnect,
    rdp_login,
    restart_softphone,
    run_site,
    softphone,
    tunnel_down,
    tunnel_up,
)

testinfra_hosts = ["podman://tt-home"]

SERVICES = "vpn,vdi,pbx,conference"
# The offboarding run is also the -vvv run: with the PKI (the CA passphrase and
# key) and the admin accounts (their password hashes) on top of the services.
VERBOSE_TAGS = f"{SERVICES},pki,baseline_admins"


def staff_with_worker_absent():
    return [dict(p, state="absent") if p["username"] == WORKER else p
            for p in lab_vars("teletreball_staff")]


def assert_no_secret_printed(secrets, output):
    """ISSUE 18 F: -vvv prints none of the credentials folder's secret values."""
    sources = set(secrets.values())
    # The check covers every kind of secret (an empty list would prove nothing).
    for kind in ["/sip-password", "/desktop-password", "/desktop-totp", "/chat-password",
                 ".psk", ".ca-passphrase", "pki/ca.key", "lab-admin.password-hash",
                 "lab-admin_ed25519", "pbx/ami-secret", "conference/turn-secret"]:
        assert any(kind in source for source in sources), (kind, sorted(sources))
    # The run was verbose: task paths and the modules' arguments were printed.
    assert "task path:" in output and "invocation:" in output, output[-2000:]
    printed = sorted({source for value, source in secrets.items() if value in output})
    assert printed == [], f"-vvv printed the secrets of {printed}"


@pytest.mark.control("TT-SEC-01")
def test_an_absent_worker_loses_every_service_and_her_data_is_archived(host, measurement):
    tunnel_down()
    staff = staff_with_worker_absent()
    # site.yml with the services' tags (the preflight always runs): what IT runs
    # after editing the staff directory (docs/operations.md), here with -vvv.
    secrets = credential_secrets()
    output = []
    hosts, seconds = run_site(
        "-vvv", "--tags", VERBOSE_TAGS, "--extra-vars", json.dumps({"teletreball_staff": staff}),
        output=output)
    assert all(s["failures"] == 0 and s["unreachable"] == 0 for s in hosts.values()), hosts
    measurement(f"stack: site.yml -vvv --tags {VERBOSE_TAGS}, the worker absent {seconds:.0f} s")
    assert_no_secret_printed(secrets, output[0])
    # Her services changed. The other desktop host only drops her device's
    # address from its firewall (one task writes the drop-in and loads it, no
    # handler); the repository host does not change at all.
    for name in ["tt-vpn", WORKER_DESKTOP, "tt-pbx", "tt-conf"]:
        assert hosts[name]["changed"] >= 1, (name, hosts[name]["changed_tasks"])
    assert set(hosts["tt-vdi1"]["changed_tasks"]) <= {
        "vdi : Write the remote-desktop rules of the firewall"
    }, hosts["tt-vdi1"]["changed_tasks"]
    assert hosts["tt-repo"]["changed"] == 0, hosts["tt-repo"]["changed_tasks"]

    # The VPN: her profile no longer gets a handshake.
    tunnel_up()
    assert handshake_seconds(timeout=15) is None, host.run("wg show wg0").stdout
    tunnel_down()

    # Her accounts, tried through another device's tunnel.
    tunnel_up(copy_to_home(CREDENTIALS / "people" / "oriol" / "vpn" / "laptop.conf"))
    assert handshake_seconds() is not None
    try:
        password = host.check_output(f"cat {PACK}/desktop-password").strip()
        before, after = rdp_login(WORKER_DESKTOP, WORKER, password)
        assert after == (before[0] + 1, before[1]), (before, after)
        rdp_disconnect()

        restart_softphone()
        state = softphone("registered --count 1 --timeout 20", check=False)
        assert not state.get("ok"), state
        endpoint = machine("tt-pbx").run(f"asterisk -rx 'pjsip show endpoint {WORKER}'").stdout
        assert "Unable to find object" in endpoint, endpoint

        login = chat("login", f"{WORKER}@{DOMAIN}")
        assert login["result"] == "failed_auth" and login["condition"] == "account-disabled", login
    finally:
        rdp_disconnect()
        tunnel_down()

    # Kept during the retention: the pack is archived on the controller, her home
    # folder and her chat account's data stay on the servers.
    assert not (CREDENTIALS / "people" / WORKER).exists()
    archived = sorted((CREDENTIALS / "archive").glob(f"{WORKER}-*"))
    assert archived, sorted(p.name for p in (CREDENTIALS / "archive").iterdir())
    assert machine(WORKER_DESKTOP).file(f"/home/{WORKER}").is_directory
    conf = machine("tt-conf")
    assert conf.run(f"find /var/lib/prosody -path '*accounts/{WORKER}.dat'").stdout.strip()

    # After the retention (0 days here): archived, then removed from the servers.
    # Only the account tasks of the two hosts that hold her data.
    run_site("--tags", "vdi_accounts,conference_accounts",
             "--limit", f"localhost,{WORKER_DESKTOP},tt-conf", "--extra-vars", json.dumps(
                 {"teletreball_staff": staff, "vdi_home_retention_days": 0,
                  "conference_account_retention_days": 0}))
    desktop = machine(WORKER_DESKTOP)
    homes = desktop.check_output(
        f"find /var/backups/teletreball/desktops -name '{WORKER}*.tar.gz'").split()
    assert len(homes) == 1, homes
    assert desktop.file(homes[0]).mode == 0o600
    chats = conf.check_output(
        f"find /var/backups/teletreball/chat -name '{WORKER}*.tar.gz'").split()
    assert len(chats) == 1, chats
    assert f"accounts/{WORKER}.dat" in conf.check_output(f"tar -tzf {chats[0]}")
