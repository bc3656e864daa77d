"""The live checks of the VPN gateway, the remote desktops and TT-ID-01
(module_utils/teletreball_checks_vpn.py and teletreball_checks_vdi.py): what they
read from the host's answers, run on a fake host (commands and files in dicts).
A PASS on a host as the roles leave it, and a FAIL for each way to break it."""

from __future__ import annotations

import copy
import json

import pytest
from audit_fakes import (
    ACCEPT,
    DROP,
    FakeProbe,
    audit,
    evaluate_without,
    failed,
    match,
    passed,
    payload,
    stat_answer,
)

PRIVATE_KEY = "aGVyZS1pcy1hLXByaXZhdGUta2V5LW5vdC1wcmludGVkIQ="
PSK = "cHJlc2hhcmVkLWtleS1vZi1hbm5hLW5vdC1wcmludGVkISE="
TOTP = "3132333435363738393031323334353637383930"
HASH = "$y$j9T$salt$hashofthepasswordnottobeshown"


def evaluate(control_id, host, params):
    return evaluate_without(control_id, host, params, (PRIVATE_KEY, PSK, TOTP, HASH))


def _rule(table, chain, *expr):
    return {"rule": {"family": "inet", "table": table, "chain": chain, "expr": list(expr)}}


def _chain(table, name, **hook):
    return {"chain": {"family": "inet", "table": table, "name": name, **hook}}


def _set(table, name, elements):
    return {"set": {"family": "inet", "table": table, "name": name, "type": "ipv4_addr",
                    "elem": elements}}


ESTABLISHED = match({"ct": {"key": "state"}}, ["established", "related"], "in")


# --- the VPN gateway ----------------------------------------------------------------

PEERS = {
    "anna/laptop": ("QW5uYUxhcHRvcFB1YmxpY0tleUFBQUFBQUFBQUFBQUE=", "10.64.0.2"),
    "anna/phone": ("QW5uYVBob25lUHVibGljS2V5QUFBQUFBQUFBQUFBQUE=", "10.64.0.3"),
    "pau/laptop": ("UGF1TGFwdG9wUHVibGljS2V5QUFBQUFBQUFBQUFBQUE=", "10.64.0.4"),
}
VPN_PARAMS = {
    "vpn_interface": "wg0",
    "vpn_pool": "10.64.0.0/24",
    "vpn_client_dns": [],
    "vpn_access_rules": [
        {"service": "desktop", "sources": ["10.64.0.2", "10.64.0.3", "10.64.0.4"],
         "destinations": ["10.10.0.0/24"], "tcp": ["3389"], "udp": []},
        {"service": "phone", "sources": ["10.64.0.2", "10.64.0.3"],
         "destinations": ["10.10.0.0/24"], "tcp": ["5061"], "udp": ["10000-20000"]},
    ],
    "vpn_devices": [{"username": name.split("/")[0], "device": name.split("/")[1],
                     "address": address} for name, (_, address) in PEERS.items()],
    "vpn_absent_people": ["joan"],
}


def wg_conf(peers=PEERS):
    text = ("[Interface]\nAddress = 10.64.0.1/24\nListenPort = 51820\n"
            "PostUp = wg set %i private-key /etc/wireguard/wg0.key\n")
    for name, (key, address) in peers.items():
        text += (f"\n# {name}\n[Peer]\nPublicKey = {key}\nPresharedKey = {PSK}\n"
                 f"AllowedIPs = {address}/32\n")
    return text


def vpn_ruleset(desktop_sources=("10.64.0.2", "10.64.0.3", "10.64.0.4"), extra_forward=(),
                extra_tables=()):
    prefix = {"prefix": {"addr": "10.10.0.0", "len": 24}}
    items = [
        _chain("teletreball", "input", type="filter", hook="input", policy="drop"),
        _chain("teletreball", "forward", type="filter", hook="forward", policy="drop"),
        _chain("teletreball", "forward_services"),
        _chain("teletreball", "vpn_forward"),
        _set("teletreball", "vpn_desktop_devices", list(desktop_sources)),
        _set("teletreball", "vpn_phone_devices", ["10.64.0.2", "10.64.0.3"]),
        _rule("teletreball", "forward", ESTABLISHED, ACCEPT),
        _rule("teletreball", "forward", {"jump": {"target": "forward_services"}}),
        _rule("teletreball", "forward_services", {"jump": {"target": "vpn_forward"}}),
        _rule("teletreball", "vpn_forward",
              match({"meta": {"key": "iifname"}}, "wg0", "!="), {"return": None}),
        _rule("teletreball", "vpn_forward", match(payload("ip", "saddr"), "@vpn_desktop_devices"),
              match(payload("ip", "daddr"), prefix), match(payload("tcp", "dport"), 3389),
              ACCEPT),
        _rule("teletreball", "vpn_forward", match(payload("ip", "saddr"), "@vpn_phone_devices"),
              match(payload("ip", "daddr"), prefix), match(payload("tcp", "dport"), 5061),
              ACCEPT),
        _rule("teletreball", "vpn_forward", match(payload("ip", "saddr"), "@vpn_phone_devices"),
              match(payload("ip", "daddr"), prefix),
              match(payload("udp", "dport"), {"range": [10000, 20000]}), ACCEPT),
        *extra_forward,
        _rule("teletreball", "vpn_forward", {"counter": {"packets": 0, "bytes": 0}}, DROP),
        _chain("teletreball_vpn_guard", "input", type="filter", hook="input", policy="accept"),
        _rule("teletreball_vpn_guard", "input",
              match({"meta": {"key": "iifname"}}, "wg0", "!="), ACCEPT),
        _rule("teletreball_vpn_guard", "input", ESTABLISHED, ACCEPT),
        _rule("teletreball_vpn_guard", "input",
              match(payload("icmp", "type"), "echo-request"), ACCEPT),
        _rule("teletreball_vpn_guard", "input", {"counter": {"packets": 0, "bytes": 0}}, DROP),
        *extra_tables,
    ]
    return json.dumps({"nftables": [{"metainfo": {"json_schema_version": 1}}, *items]})


def vpn_host(running=None, conf=None, ruleset=None, modes=None, key_public=None):
    """A gateway as the role leaves it; ``key_public``: the public key of wg0.key,
    when it is not the running interface's (a rotation that did not reach it)."""
    running = PEERS if running is None else running
    allowed = "".join(f"{key}\t{address}/32\n" for key, address in running.values())
    commands = {
        ("wg", "show", "wg0", "allowed-ips"): (0, allowed, ""),
        ("wg", "show", "wg0", "public-key"): (0, "R2F0ZXdheVB1YmxpY0tleQ==\n", ""),
        ("sh", "-c", 'wg pubkey < "$1"', "sh", "/etc/wireguard/wg0.key"):
            (0, (key_public or "R2F0ZXdheVB1YmxpY0tleQ==") + "\n", ""),
        ("nft", "-j", "list", "ruleset"): (0, ruleset or vpn_ruleset(), ""),
        ("nft", "list", "chain", "inet", "teletreball", "vpn_forward"): (0, "chain", ""),
        ("ip", "-o", "-4", "address", "show", "dev", "wg0"):
            (0, "4: wg0    inet 10.64.0.1/24 scope global wg0", ""),
        ("systemctl", "is-active", "wg-quick@wg0.service"): (0, "active\n", ""),
        ("stat", "/etc/wireguard"): stat_answer("700", kind="directory"),
        ("stat", "/etc/wireguard/wg0.conf"): stat_answer("600"),
        ("stat", "/etc/wireguard/wg0.key"): stat_answer("600"),
    }
    for path, mode in (modes or {}).items():
        commands[("stat", path)] = stat_answer(mode)
    files = {"/etc/wireguard/wg0.conf": wg_conf() if conf is None else conf,
             "/etc/wireguard/wg0.key": PRIVATE_KEY + "\n",
             "/proc/sys/net/ipv4/ip_forward": "1\n"}
    return FakeProbe(commands, files)


@pytest.mark.parametrize("control_id", ["VPN-ACC-01", "VPN-ADDR-01", "VPN-KEY-01", "VPN-REV-01"])
def test_vpn_checks_pass_on_a_gateway_as_the_role_leaves_it(control_id):
    passed(evaluate(control_id, vpn_host(), VPN_PARAMS))


def test_vpn_acc_fails_on_a_rule_or_a_device_the_matrix_does_not_grant():
    extra = _rule("teletreball", "vpn_forward", match(payload("tcp", "dport"), 8080), ACCEPT)
    outcome = evaluate("VPN-ACC-01", vpn_host(ruleset=vpn_ruleset(
        desktop_sources=("10.64.0.2", "10.64.0.3", "10.64.0.4", "10.64.0.9"),
        extra_forward=[extra])), VPN_PARAMS)
    assert failed(outcome) == ["each service's set holds exactly the devices granted it",
                               "vpn_forward accepts nothing the access matrix does not grant"]
    evidence = {f["requirement"]: f["evidence"] for f in outcome["findings"]}
    assert "also 10.64.0.9" in evidence["each service's set holds exactly the devices granted it"]
    assert "tcp dport 8080 accept" in evidence[
        "vpn_forward accepts nothing the access matrix does not grant"]


def test_vpn_acc_without_the_directory_is_an_error():
    outcome = evaluate("VPN-ACC-01", vpn_host(), dict(VPN_PARAMS, vpn_access_rules=None))
    assert outcome["status"] == audit.ERROR
    assert "staff directory was not derived" in outcome["error"]


def test_vpn_addr_fails_when_the_pool_is_masqueraded_or_a_peer_has_a_network():
    nat = [{"chain": {"family": "ip", "table": "nat", "name": "post", "type": "nat",
                      "hook": "postrouting", "policy": "accept"}},
           {"rule": {"family": "ip", "table": "nat", "chain": "post", "expr": [
               match(payload("ip", "saddr"), {"prefix": {"addr": "10.64.0.0", "len": 24}}),
               {"masquerade": None}]}}]
    running = dict(PEERS, **{"x/y": ("WHlQdWJsaWNLZXk=", "10.10.0.0/24")})
    host = vpn_host(running=running, ruleset=vpn_ruleset(extra_tables=nat))
    host.commands[("wg", "show", "wg0", "allowed-ips")] = (0, "".join(
        f"{k}\t{a}{'' if '/' in a else '/32'}\n" for k, a in running.values()), "")
    assert failed(evaluate("VPN-ADDR-01", host, VPN_PARAMS)) == [
        "the gateway does not masquerade or source-NAT the VPN pool 10.64.0.0/24",
        "each device has its own single address of the pool (one /32 per peer)"]


def test_vpn_key_fails_on_an_open_config_or_a_private_key_in_it():
    conf = wg_conf().replace("PostUp = wg set %i private-key /etc/wireguard/wg0.key",
                             f"PrivateKey = {PRIVATE_KEY}")
    host = vpn_host(conf=conf, modes={"/etc/wireguard/wg0.conf": "644"})
    assert failed(evaluate("VPN-KEY-01", host, VPN_PARAMS)) == [
        "wg0.conf (preshared keys) is root's only (0600)",
        "wg0.conf holds no private key: the interface takes it from wg0.key"]


def test_vpn_key_fails_when_the_interface_runs_another_key_than_the_key_file():
    # A new wg0.key (a rotation) that never reached the running interface: the
    # old profiles would still work.
    host = vpn_host(key_public="TmV3R2F0ZXdheUtleUFBQUFBQUFBQUFBQUFBQUFBQUE=")
    outcome = evaluate("VPN-KEY-01", host, VPN_PARAMS)
    assert failed(outcome) == ["wg0 runs with the gateway's key (that of wg0.key)"]
    assert "TmV3R2F0ZXdheUtleUFBQUFBQUFBQUFBQUFBQUFBQUE=" in audit.explain(outcome)
    assert PRIVATE_KEY not in audit.explain(outcome)


def test_vpn_rev_fails_on_a_peer_added_live_and_on_an_absent_person_s_peer():
    running = dict(PEERS, **{"live": ("TGl2ZVBlZXJBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=",
                                      "10.64.0.50")})
    outcome = evaluate("VPN-REV-01", vpn_host(running=running), VPN_PARAMS)
    assert failed(outcome) == ["the running wg0 has exactly the peers of wg0.conf"]
    assert "10.64.0.50/32" in audit.explain(outcome)

    peers = dict(PEERS, **{"joan/laptop": ("Sm9hbkxhcHRvcEFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=",
                                           "10.64.0.9")})
    outcome = evaluate("VPN-REV-01", vpn_host(running=peers, conf=wg_conf(peers)), VPN_PARAMS)
    assert failed(outcome) == ["every peer is a device of a present person",
                               "no absent person has a peer"]
    assert "joan/laptop" in audit.explain(outcome)


# --- the remote desktops ------------------------------------------------------------

XRDP_INI = """[Globals]
port=tcp://:3389
security_layer=tls
crypt_level=high
certificate=/etc/xrdp/tls/cert.pem
key_file=/etc/xrdp/tls/key.pem
ssl_protocols=TLSv1.2, TLSv1.3
tls_ciphers=ECDHE+AESGCM:ECDHE+CHACHA20

[Channels]
rdpdr=false
cliprdr=true
"""
SESMAN_INI = """[Security]
AllowRootLogin=false
TerminalServerUsers=remote-desktop
AlwaysGroupCheck=true
RestrictOutboundClipboard=all
RestrictInboundClipboard=none

[Sessions]
MaxSessions=50
KillDisconnected=true
DisconnectedTimeLimit=1800
IdleTimeLimit=3600

[Xorg]
param=-nolisten
param=tcp

[Chansrv]
EnableFuseMount=false
"""
PAM = """#%PAM-1.0
auth       required     pam_env.so readenv=1
auth       requisite    pam_oath.so usersfile=/etc/teletreball/vdi/users.oath digits=6 window=2
auth       required     pam_unix.so use_first_pass
@include common-account
@include common-session
"""
SUITES = "".join(
    f"{name} TLSv1.2 Kx=ECDH Au=RSA Enc=AESGCM(256) Mac=AEAD\n"
    for name in ("ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256"))
PUBKEY = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"
VDI_PARAMS = {
    "vdi_port": 3389, "vdi_tls_min_version": "TLSv1.2",
    "vdi_tls_ciphers": "ECDHE+AESGCM:ECDHE+CHACHA20", "vdi_address": "vdi1",
    "vdi_ca_file": "/etc/teletreball/pki/ca.crt", "vdi_login_group": "remote-desktop",
    "vdi_totp_window": 2, "vdi_idle_time_limit": 3600, "vdi_disconnected_time_limit": 1800,
    "vdi_kill_disconnected": True, "vdi_max_sessions": 50,
    "vdi_archive_dir": "/var/backups/teletreball/desktops",
    "vdi_users": ["anna", "pau"], "vdi_rdp_sources": ["10.64.0.2", "10.64.0.3", "10.10.0.20"],
    "vdi_absent_people": ["joan"],
    "tt_desktop_identities": {"anna": "a" * 32, "pau": "b" * 32},
}


def vdi_ruleset(sources=("10.64.0.2", "10.64.0.3", "10.10.0.20"), openings=()):
    items = [
        _chain("teletreball", "input", type="filter", hook="input", policy="drop"),
        _chain("teletreball", "openings"), _chain("teletreball", "services"),
        _chain("teletreball", "vdi_input"),
        _set("teletreball", "vdi_rdp_sources", list(sources)),
        _rule("teletreball", "input", match({"meta": {"key": "iif"}}, "lo"), ACCEPT),
        _rule("teletreball", "input", ESTABLISHED, ACCEPT),
        _rule("teletreball", "input", match(payload("icmp", "type"),
                                             {"set": ["echo-request"]}), ACCEPT),
        _rule("teletreball", "input", match(payload("tcp", "dport"), 22),
              match(payload("ip", "saddr"), "@ssh_sources_v4"), ACCEPT),
        _rule("teletreball", "input", {"jump": {"target": "openings"}}),
        _rule("teletreball", "input", {"jump": {"target": "services"}}),
        *openings,
        _rule("teletreball", "services", {"jump": {"target": "vdi_input"}}),
        _rule("teletreball", "vdi_input", match(payload("ip", "saddr"), "@vdi_rdp_sources"),
              match(payload("tcp", "dport"), 3389), ACCEPT),
    ]
    return json.dumps({"nftables": items})


def shadow(name, locked=False, expire=""):
    return (0, f"{name}:{'!' if locked else ''}{HASH}:20000:0:99999:7::{expire}:\n", "")


def vdi_host():
    cert, key = "/etc/xrdp/tls/cert.pem", "/etc/xrdp/tls/key.pem"
    commands = {
        ("systemctl", "is-active", "xrdp.service"): (0, "active\n", ""),
        ("systemctl", "is-active", "xrdp-sesman.service"): (0, "active\n", ""),
        ("ps", "-o", "user=", "-C", "xrdp"): (0, "xrdp\nxrdp\n", ""),
        ("systemctl", "show", "xrdp.service", "-p", "User", "-p", "NoNewPrivileges",
         "-p", "ProtectSystem", "-p", "ProtectHome"):
            (0, "User=xrdp\nNoNewPrivileges=yes\nProtectSystem=full\nProtectHome=yes\n", ""),
        ("openssl", "ciphers", "-v", "-s", "-tls1_2", "ECDHE+AESGCM:ECDHE+CHACHA20"):
            (0, SUITES, ""),
        ("openssl", "verify", "-CAfile", "/etc/teletreball/pki/ca.crt", "-untrusted", cert, cert):
            (0, f"{cert}: OK\n", ""),
        ("openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", cert):
            (0, "X509v3 Subject Alternative Name:\n    DNS:vdi1\n", ""),
        ("openssl", "x509", "-noout", "-pubkey", "-in", cert): (0, PUBKEY, ""),
        ("openssl", "pkey", "-pubout", "-in", key): (0, PUBKEY, ""),
        ("stat", "/etc/xrdp/tls"): stat_answer("750", group="xrdp", kind="directory"),
        ("stat", key): stat_answer("640", group="xrdp"),
        ("stat", "/etc/teletreball/vdi"): stat_answer("700", kind="directory"),
        ("stat", "/etc/teletreball/vdi/users.oath"): stat_answer("600"),
        ("stat", "/var/lib/teletreball/desktop-accounts.json"): stat_answer("600"),
        ("stat", "/var/backups/teletreball/desktops"): stat_answer("700", kind="directory"),
        ("find", "/var/backups/teletreball/desktops", "-mindepth", "1", "-maxdepth", "1",
         "-printf", "%m %u %f\\n"): (0, "600 root joan-20261201.tar.gz\n", ""),
        ("ss", "--no-header", "--listening", "--tcp", "--udp", "--numeric", "--processes"):
            (0, 'tcp LISTEN 0 2 0.0.0.0:3389 0.0.0.0:* users:(("xrdp",pid=7,fd=11))\n', ""),
        ("nft", "-j", "list", "ruleset"): (0, vdi_ruleset(), ""),
        ("nft", "list", "chain", "inet", "teletreball", "vdi_input"): (0, "chain vdi_input", ""),
        ("getent", "group", "remote-desktop"): (0, "remote-desktop:x:1002:anna,pau\n", ""),
        ("getent", "passwd", "0"): (0, "root:x:0:0:root:/root:/bin/bash\n", ""),
        ("getent", "passwd", "anna"): (0, "anna:x:1001:1001:Anna:/home/anna:/bin/bash\n", ""),
        ("getent", "passwd", "pau"): (0, "pau:x:1003:1003:Pau:/home/pau:/bin/bash\n", ""),
        ("getent", "passwd", "joan"): (0, "joan:x:1004:1004:Joan:/home/joan:/bin/bash\n", ""),
        ("getent", "shadow", "anna"): shadow("anna"),
        ("getent", "shadow", "pau"): shadow("pau"),
        ("getent", "shadow", "joan"): shadow("joan", locked=True, expire="1"),
        ("pgrep", "-u", "joan"): (1, "", ""),
    }
    files = {
        "/etc/xrdp/xrdp.ini": XRDP_INI, "/etc/xrdp/sesman.ini": SESMAN_INI,
        "/etc/pam.d/xrdp-sesman": PAM,
        "/etc/teletreball/vdi/users.oath":
            f"HOTP/T30/6 anna - {TOTP} 5 123456 2026-12-07T10:00:00L\nHOTP/T30/6 pau - {TOTP}\n",
        "/var/lib/teletreball/desktop-accounts.json": json.dumps({"accounts": {
            "anna": {"status": "active", "identity": "a" * 32, "locked_on": None, "archive": None},
            "pau": {"status": "active", "identity": "b" * 32, "locked_on": None, "archive": None},
            "joan": {"status": "locked", "identity": "c" * 32, "locked_on": "2026-12-01",
                     "archive": None}}}),
        "/proc/mounts": "proc /proc proc rw 0 0\n",
    }
    return FakeProbe(commands, files)


def edited(host, path, old, new):
    host = copy.deepcopy(host)
    assert old in host.files[path]
    host.files[path] = host.files[path].replace(old, new)
    return host


VDI_CONTROLS = ["VDI-TLS-01", "VDI-NET-01", "VDI-ACC-01", "VDI-MFA-01", "VDI-SES-01",
                "VDI-DLP-01", "VDI-REV-01", "TT-ID-01"]


@pytest.mark.parametrize("control_id", VDI_CONTROLS)
def test_vdi_checks_pass_on_a_session_host_as_the_role_leaves_it(control_id):
    passed(evaluate(control_id, vdi_host(), VDI_PARAMS))


def test_vdi_tls_fails_without_tls_only_or_with_old_protocols():
    host = edited(vdi_host(), "/etc/xrdp/xrdp.ini", "security_layer=tls\n",
                  "security_layer=negotiate\n")
    host = edited(host, "/etc/xrdp/xrdp.ini", "TLSv1.2, TLSv1.3", "TLSv1.1, TLSv1.2")
    host.commands[("openssl", "pkey", "-pubout", "-in", "/etc/xrdp/tls/key.pem")] = (
        0, PUBKEY.replace("MCow", "MCox"), "")
    assert failed(evaluate("VDI-TLS-01", host, VDI_PARAMS)) == [
        "xrdp offers TLS only (security_layer=tls)", "xrdp offers only TLSv1.2 and TLSv1.3",
        "the key is the certificate's key"]


def test_vdi_tls_fails_when_xrdp_runs_as_root():
    host = vdi_host()
    host.commands[("ps", "-o", "user=", "-C", "xrdp")] = (0, "root\n", "")
    assert failed(evaluate("VDI-TLS-01", host, VDI_PARAMS)) == [
        "xrdp runs as the unprivileged user xrdp"]


def test_vdi_net_fails_on_another_opening_of_rdp_or_another_source():
    opening = _rule("teletreball", "openings",
                    match(payload("ip", "saddr"), {"prefix": {"addr": "10.10.0.0", "len": 24}}),
                    ACCEPT)
    host = vdi_host()
    host.commands[("nft", "-j", "list", "ruleset")] = (0, vdi_ruleset(
        sources=("10.64.0.2", "10.64.0.3", "10.10.0.20", "10.10.0.99"), openings=[opening]), "")
    outcome = evaluate("VDI-NET-01", host, VDI_PARAMS)
    assert failed(outcome) == [
        "the set vdi_rdp_sources holds exactly the VPN devices granted desktop, the gateways "
        "and the extra sources", "tcp 3389 is accepted only from @vdi_rdp_sources"]
    assert "openings: ip saddr 10.10.0.0/24 accept" in audit.explain(outcome)
    assert "also 10.10.0.99" in audit.explain(outcome)


def test_an_opening_of_other_ports_leaves_rdp_closed():
    other = _rule("teletreball", "openings", match(payload("tcp", "dport"), {"set": [80, 443]}),
                  ACCEPT)
    host = vdi_host()
    host.commands[("nft", "-j", "list", "ruleset")] = (0, vdi_ruleset(openings=[other]), "")
    passed(evaluate("VDI-NET-01", host, VDI_PARAMS))


def test_vdi_acc_fails_without_the_group_check_or_with_somebody_else_in_the_group():
    host = edited(vdi_host(), "/etc/xrdp/sesman.ini", "AlwaysGroupCheck=true",
                  "AlwaysGroupCheck=false")
    host.commands[("getent", "group", "remote-desktop")] = (0, "remote-desktop:x:1002:anna,pau,"
                                                            "root\n", "")
    assert failed(evaluate("VDI-ACC-01", host, VDI_PARAMS)) == [
        "sesman AlwaysGroupCheck=true",
        "the members of remote-desktop are exactly the people assigned to this host",
        "root is not in the login group"]


def test_vdi_mfa_fails_without_pam_oath_or_with_a_way_around_it():
    host = edited(vdi_host(), "/etc/pam.d/xrdp-sesman", "auth       requisite    pam_oath.so",
                  "#auth requisite pam_oath.so")
    assert "xrdp-sesman's PAM stack asks for the TOTP code (pam_oath)" in failed(
        evaluate("VDI-MFA-01", host, VDI_PARAMS))
    host = edited(vdi_host(), "/etc/pam.d/xrdp-sesman", "auth       required     pam_env.so",
                  "auth sufficient pam_permit.so\nauth       required     pam_env.so")
    assert failed(evaluate("VDI-MFA-01", host, VDI_PARAMS)) == [
        "nothing before pam_oath can let a login in",
        "no other auth module may accept a login alone"]


def test_vdi_mfa_fails_when_a_person_has_no_totp_secret():
    host = vdi_host()
    assert failed(evaluate("VDI-MFA-01", host, dict(VDI_PARAMS, vdi_users=["anna", "pau", "eva"]))
                  ) == ["each person assigned here has a TOTP secret (HOTP/T30)"]


def test_vdi_ses_fails_when_idle_sessions_are_never_ended():
    host = edited(vdi_host(), "/etc/xrdp/sesman.ini", "IdleTimeLimit=3600", "IdleTimeLimit=0")
    host = edited(host, "/etc/xrdp/sesman.ini", "KillDisconnected=true", "KillDisconnected=false")
    assert failed(evaluate("VDI-SES-01", host, VDI_PARAMS)) == [
        "an idle session is disconnected after 3600 s",
        "a disconnected session is ended after 1800 s"]


def test_vdi_dlp_fails_with_drives_or_the_clipboard_out_of_the_session():
    host = edited(vdi_host(), "/etc/xrdp/xrdp.ini", "rdpdr=false", "rdpdr=true")
    host = edited(host, "/etc/xrdp/sesman.ini", "RestrictOutboundClipboard=all",
                  "RestrictOutboundClipboard=none")
    host.files["/proc/mounts"] += "xrdp-chansrv /home/anna/thinclient_drives fuse rw 0 0\n"
    assert failed(evaluate("VDI-DLP-01", host, VDI_PARAMS)) == [
        "the drive channel is off (rdpdr=false)",
        "nothing is copied from the session to the person's computer",
        "no session has the person's drives mounted"]


def test_vdi_rev_fails_when_an_absent_person_can_still_log_in():
    host = vdi_host()
    host.commands[("getent", "shadow", "joan")] = shadow("joan")
    host.commands[("getent", "group", "remote-desktop")] = (
        0, "remote-desktop:x:1002:anna,joan,pau\n", "")
    host.commands[("pgrep", "-u", "joan")] = (0, "4242\n", "")
    host.files["/etc/teletreball/vdi/users.oath"] += f"HOTP/T30/6 joan - {TOTP}\n"
    outcome = evaluate("VDI-REV-01", host, VDI_PARAMS)
    assert failed(outcome) == [
        "everybody absent or no longer assigned here is locked, expired, out of the login "
        "group, with no process", "nobody else is in remote-desktop",
        "nobody else has a TOTP secret here"]
    assert "joan: password usable, expiry day none, in remote-desktop, 1 processes" in (
        audit.explain(outcome))


def test_vdi_rev_fails_on_a_loose_archive():
    host = vdi_host()
    host.commands[("find", "/var/backups/teletreball/desktops", "-mindepth", "1", "-maxdepth", "1",
                   "-printf", "%m %u %f\\n")] = (0, "644 root joan-20261201.tar.gz\n", "")
    assert failed(evaluate("VDI-REV-01", host, VDI_PARAMS)) == [
        "archived homes are root's only (0600 in a 0700 folder)"]


def test_tt_id_fails_when_an_account_belongs_to_another_identity():
    params = dict(VDI_PARAMS, tt_desktop_identities={"anna": "d" * 32, "pau": "b" * 32})
    outcome = evaluate("TT-ID-01", vdi_host(), params)
    assert failed(outcome) == ["each desktop account is recorded as its present person's"]
    assert f"anna: active, identity {'a' * 32} (expected {'d' * 32})" in audit.explain(outcome)


def test_tt_id_on_a_chat_server_reads_the_chat_identities():
    record = {"anna@example.test": "a" * 32, "pau@example.test": "b" * 32}
    host = FakeProbe({("stat", "/var/lib/teletreball/chat-identities.json"): stat_answer("600")},
                    {"/var/lib/teletreball/chat-identities.json": json.dumps(record)})
    passed(evaluate("TT-ID-01", host, {"tt_chat_identities": record,
                                       "tt_desktop_identities": None}))
    outcome = evaluate("TT-ID-01", host, {"tt_chat_identities": dict(record, **{
        "pau@example.test": "e" * 32, "eva@example.test": "f" * 32})})
    assert failed(outcome) == ["each chat account is recorded as its present person's"]
    assert "eva@example.test: not recorded" in audit.explain(outcome)
    outcome = evaluate("TT-ID-01", host, {})
    assert outcome["status"] == audit.ERROR
