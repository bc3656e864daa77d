"""Helpers of the stack scenario: the remote worker's laptop and the lab's directory."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import subprocess
import time

import testinfra
import yaml
from teletreball_testinfra import run_converge, wait_for

REPO = pathlib.Path(__file__).resolve().parents[3]
LAB = REPO / "inventories" / "lab"
CREDENTIALS = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / (
    "credentials"
)
DOMAIN = "lab.teletreball.test"
WORKER = "marta"
WORKER_DESKTOP = "tt-vdi2"
PACK = "/root/welcome-pack"  # the worker's welcome pack, on her laptop
GATEWAY_PUBLIC = "10.89.200.11"
CONFERENCE_PUBLIC = "10.89.200.12"
QUEUE_NUMBER = "938000001"
USERSPACE = (
    "WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go "
    "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1"
)


def machine(name):
    return testinfra.get_host(f"podman://{name}")


HOME = machine("tt-home")


def lab_vars(name):
    """A variable of inventories/lab/group_vars/all (the staff directory, the access matrix)."""
    for path in sorted((LAB / "group_vars" / "all").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if name in data:
            return data[name]
    raise KeyError(name)


def lab_addresses():
    """Each council host's address on the internal network, from the inventory."""
    inventory = yaml.safe_load((LAB / "hosts.yml").read_text(encoding="utf-8"))
    addresses = {}
    for group in inventory["all"]["children"].values():
        for name, host_vars in group["hosts"].items():
            # A host listed in a second group (tt-repo in log_hosts) has its
            # container described under its first group only.
            if not (host_vars or {}).get("lab_container"):
                continue
            for network in host_vars["lab_container"]["networks"]:
                if network["name"] == "teletreball-lab":
                    addresses[name] = network["ip"]
    return addresses


def granted_services(username):
    person = next(p for p in lab_vars("teletreball_staff") if p["username"] == username)
    return {service for service, groups in lab_vars("teletreball_access").items()
            if set(groups) & set(person["groups"])}


# --- The tunnel -------------------------------------------------------------

def tunnel_up(profile=f"{PACK}/vpn/laptop.conf"):
    """wg-quick with a profile on the laptop (wireguard-go: no kernel module here)."""
    HOME.run("wg-quick down wg0")
    HOME.check_output(f"install -m 0600 {shlex.quote(profile)} /etc/wireguard/wg0.conf")
    result = HOME.run(f"env {USERSPACE} wg-quick up wg0")
    assert result.rc == 0, result.stdout + result.stderr


def copy_to_home(source):
    """Put a file of the controller on the laptop (in /root/other, 0700); its path there."""
    HOME.check_output("install -d -m 0700 /root/other")
    destination = f"/root/other/{pathlib.Path(source).name}"
    subprocess.run(["podman", "cp", str(source), f"tt-home:{destination}"], check=True)
    HOME.check_output(f"chmod 0600 {destination}")
    return destination


def tunnel_down():
    HOME.run("wg-quick down wg0")


def device_address(device="laptop"):
    """The VPN address of one of her devices, from its profile in her pack."""
    return HOME.check_output(
        f"sed -n 's/^Address *= *\\([0-9.]*\\).*/\\1/p' {PACK}/vpn/{device}.conf").strip()


# Her phone's tunnel beside the laptop's (wg1): wg-quick puts its routes in a
# table of their own, which only packets from the phone's address use.
PHONE_TABLE = 4201


def phone_tunnel_up():
    """Her phone's profile up as a second tunnel of the laptop; the phone's address.
    A program bound to that address (sip_register.py --bind) is the phone."""
    address = device_address("phone")
    HOME.run("wg-quick down wg1")
    rule = f"rule {{}} from {address} table {PHONE_TABLE}"
    extra = (f"Table = {PHONE_TABLE}\\nPostUp = ip {rule.format('add')}\\n"
             f"PreDown = ip {rule.format('del')}")
    HOME.check_output(
        f"umask 077 && sed '/^\\[Interface\\]/a {extra}' {PACK}/vpn/phone.conf "
        "> /etc/wireguard/wg1.conf")
    result = HOME.run(f"env {USERSPACE} wg-quick up wg1")
    assert result.rc == 0, result.stdout + result.stderr
    return address


def phone_tunnel_down():
    HOME.run("wg-quick down wg1")


def handshake_seconds(timeout=20):
    """Seconds until the tunnel's first handshake, or None when none came."""
    start = time.time()
    while time.time() - start < timeout:
        # Any packet into the tunnel starts the handshake.
        HOME.run(f"timeout 1 bash -c '</dev/tcp/{lab_addresses()[WORKER_DESKTOP]}/3389'")
        stamps = HOME.run("wg show wg0 latest-handshakes").stdout.split()
        if len(stamps) >= 2 and int(stamps[1]) > 0:
            return time.time() - start
        time.sleep(1)
    return None


def reach(*probes, timeout=3):
    """tests/stack_support/reach.py on the laptop: {probe: answers|silent}."""
    out = HOME.check_output(
        f"python3 /usr/local/bin/reach.py --timeout {timeout} " + " ".join(probes))
    return json.loads(out)


# --- The remote desktop -----------------------------------------------------

def totp_code():
    """The current code, as an authenticator app computes it from the pack's QR code text."""
    return HOME.check_output(
        f"oathtool --totp --base32 \"$(sed -n 's/.*secret=\\([A-Z2-7]*\\).*/\\1/p' "
        f"{PACK}/desktop-totp.txt)\"").strip()


def rdp_results(desktop, username):
    """(refused, accepted) logins of ``username`` in xrdp-sesman's journal."""
    log = machine(desktop).run(
        "journalctl --no-pager -o cat -t xrdp-sesman -t xrdp-sesexec").stdout
    refused = log.count(f"AUTHFAIL: user={username} ") + log.count(
        f"User {username} is not in TerminalServerUsers group")
    accepted = log.count(f"Access permitted for user: {username}\n")
    return refused, accepted


def rdp_connect(desktop, username, secret_text):
    """FreeRDP on the laptop's virtual screen, checking the certificate (council CA)."""
    rdp_disconnect()
    result = HOME.run(
        "systemd-run --unit tt-rdp -E DISPLAY=:1 -E HOME=/root "
        "-p StandardOutput=file:/run/tt-rdp.log -p StandardError=file:/run/tt-rdp.log "
        f"xfreerdp3 /v:{desktop} /u:{username} /p:{shlex.quote(secret_text)} /cert:deny "
        "/sec:tls /size:1280x800 -grab-keyboard")
    assert result.rc == 0, result.stderr


def rdp_disconnect():
    HOME.run("systemctl stop tt-rdp")
    HOME.run("systemctl reset-failed tt-rdp")


def rdp_login(desktop, username, password):
    """Log in with password + current code; (refused, accepted) counts before and after."""
    before = rdp_results(desktop, username)
    rdp_connect(desktop, username, password + totp_code())
    wait_for(lambda: rdp_results(desktop, username) != before, timeout=45)
    after = rdp_results(desktop, username)
    return before, after


# --- The softphone ----------------------------------------------------------

def softphone(arguments, check=True):
    """baresip_ctl.py of the laptop's softphone (its account is the pack's line)."""
    result = HOME.run(f"baresip_ctl.py --instance home {arguments}")
    if check:
        assert result.rc == 0, f"baresip_ctl {arguments}: {result.stdout}{result.stderr}"
    return json.loads(result.stdout) if result.stdout.strip() else {}


def restart_softphone():
    HOME.check_output("systemctl restart tt-baresip@home.service tt-baresip-ctl@home.service")


def carrier_call(number, duration=10):
    result = machine("tt-carrier").run(
        f"timeout {duration + 120} carrier_calls.py call --number {number} "
        f"--calls 1 --duration {duration}")
    return result.rc, json.loads(result.stdout)


# --- The chat ---------------------------------------------------------------

def chat(command, *arguments, env=None):
    """xmpp_check.py on the laptop with the pack's chat password; its JSON answer.
    ``env``: more variables (XMPP_PASSWORD2 of a second account)."""
    extra = " ".join(f"{name}={shlex.quote(value)}" for name, value in (env or {}).items())
    line = (f"env XMPP_PASSWORD=\"$(cat {PACK}/chat-password)\" {extra} "
            f"python3 /usr/local/bin/xmpp_check.py {command} "
            + " ".join(shlex.quote(a) for a in arguments))
    return json.loads(HOME.check_output(line).splitlines()[-1])


# --- Runs of site.yml ---------------------------------------------------------

def run_site(*arguments, output=None):
    """playbooks/site.yml on the lab again; the per-host stats and the wall time.
    ``output``: a list that receives the run's stdout and stderr."""
    start = time.time()
    result, stats = run_converge(
        "--extra-vars", f"teletreball_credentials_dir={CREDENTIALS}", *arguments,
        timeout=1800, inventory=LAB / "hosts.yml", playbook=REPO / "playbooks" / "site.yml")
    if output is not None:
        output.append(result.stdout + result.stderr)
    return stats, time.time() - start


# A private key's body, line by line (a printed key keeps its lines whole).
_PEM_BODY = re.compile(r"^[A-Za-z0-9+/=]{40,}$")
# WireGuard profiles: the private and the preshared key.
_WG_SECRET = re.compile(r"^\s*(PrivateKey|PresharedKey)\s*=\s*(\S+)\s*$", re.MULTILINE)
# Files that hold one secret by their name: the people's passwords, TOTP seeds
# and PINs, the services' generated secrets, the CA passphrase, the admin's
# password and its hash, WireGuard keys. Public keys and fingerprints are not.
_SECRET_NAME = re.compile(r"password|passphrase|secret|totp|pin|psk|key|hash|_ed25519$")
_PUBLIC_NAME = re.compile(r"\.pub$|\.pub\.asc$|\.fingerprint$|\.crt$")


def credential_secrets(folder=CREDENTIALS):
    """Every secret value of the credentials folder: {value: file it comes from}.

    One-line files named for a secret give their content (passwords, TOTP seeds,
    generated secrets, password hashes, WireGuard keys), and the CA passphrase of the
    file beside the folder;
    private keys (PEM, OpenSSH, OpenPGP) each line of their body; WireGuard
    profiles their private and preshared keys. Values under 8 characters (the
    6-digit voicemail PINs) are left out: such digits turn up in any long output
    by chance. The archives of offboarded people are left out.
    """
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        if relative.parts[0] == "archive" or _PUBLIC_NAME.search(path.name):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if "PRIVATE KEY" in text:
            values = [line.strip() for line in text.splitlines() if _PEM_BODY.match(line.strip())]
        elif path.suffix == ".conf" and _WG_SECRET.search(text):
            values = [match.group(2) for match in _WG_SECRET.finditer(text)]
        elif _SECRET_NAME.search(path.name) and "\n" not in text.strip():
            values = [text.strip()]
        else:
            continue
        found.update({value: str(relative) for value in values if len(value) >= 8})
    # The CA key's passphrase, kept beside the folder (pki_ca_passphrase_file of the lab).
    passphrase = folder.parent / f"{folder.name}.ca-passphrase"
    if passphrase.is_file():
        found[passphrase.read_text(encoding="utf-8").strip()] = passphrase.name
    return found
