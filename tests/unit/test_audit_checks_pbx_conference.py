"""The live checks of the PBX and the chat server (module_utils/teletreball_checks_pbx.py
and teletreball_checks_conference.py): what they read from the host's answers, run on
a fake host (commands and files in dicts). A PASS on a host as the roles leave it, and
a FAIL for each way to break it; no secret of a file ever reaches the outcome."""

from __future__ import annotations

import hashlib
import json
import urllib.parse

import pytest
from audit_fakes import FakeProbe, audit, evaluate_without, failed, ok, passed

SIP_CREDENTIAL = "sip-password-not-to-be-printed-1"
AMI_KEY = "ami-secret-of-32-characters-not-shown"
TURN_KEY = "turn-secret-shared-by-prosody-and-coturn-not-shown"
JANUS_SIGNING_KEY = "janus-token-secret-of-64-characters-never-shown-in-evidence"
JANUS_ADMIN = "janus-admin-key-of-48-characters-never-in-evidence"
ROOM_KEY = "janus-room-secret-never-in-evidence"
SECRETS = (SIP_CREDENTIAL, AMI_KEY, TURN_KEY, JANUS_SIGNING_KEY, JANUS_ADMIN, ROOM_KEY)


class FakeHost(FakeProbe):
    """The fake host, and a TLS server behind every ``timeout 10 openssl`` (and every
    unlisted ``openssl``) command: it refuses TLS 1.1 and ciphers without AEAD unless
    ``commands["tls_weak_accepted"]``."""

    def run(self, argv):
        if argv[:3] == ["timeout", "10", "openssl"]:
            return audit.Result(*self._handshake(argv))
        return super().run(argv)

    def answer(self, argv):
        return self._handshake(argv) if argv[0] == "openssl" else None

    def _handshake(self, argv):
        old = "-tls1_1" in argv or any(c.startswith("AES128-SHA") for c in argv)
        if old and not self.commands.get("tls_weak_accepted"):
            return (1, "", "error:0A00042E:SSL routines::tlsv1 alert protocol version")
        return (0, "", "CONNECTION ESTABLISHED\nProtocol version: TLSv1.2\n"
                       "Ciphersuite: ECDHE-RSA-AES256-GCM-SHA384\nVerification: OK\n")


def evaluate(control_id, host, params):
    return evaluate_without(control_id, host, params, SECRETS)


# --- the PBX -------------------------------------------------------------------------
PEOPLE = [
    {"username": "nuria", "name": "Núria D'Amat i Pérez-Soler", "extension": "2001",
     "identity": "c662bb28ff1ffd40881ce0c4bf5f0725"},
    {"username": "clerk", "name": 'Clerk "Ferrer"; Puig ;-- \\', "extension": "2002",
     "identity": "8c533b1d3507da27fd51fa822d1fe234"},
]
PBX_PARAMS = {
    "tls_port": 5061, "udp_port": 5060, "rtp_first": 10000, "rtp_last": 20000,
    "ami_port": 5038, "ami_username": "teletreball", "address": "pbx",
    "certificate_name": "sip", "ca_file": "/etc/teletreball/pki/ca.crt",
    "media_encryption": "sdes", "trunk_sources": ["10.89.10.20"],
    "phone_networks": ["10.89.64.0/24"], "fail2ban_max_retry": 5,
    "fail2ban_find_time": 600, "fail2ban_ban_time": 3600, "people": PEOPLE,
    "oac_mailbox": "900", "voicemail_archive_dir": "/var/backups/teletreball/voicemail",
    "repo_suite": "teletreball-trixie", "sip_password_min_length": 24,
}
TRANSPORTS = """
Transport:  <TransportId........>  <Type>  <cos>  <tos>  <BindAddress....................>
==========================================================================================

Transport:  transport-tls             tls      0      0  0.0.0.0:5061
Transport:  transport-udp             udp      0      0  0.0.0.0:5060

Objects found: 2
"""
TRANSPORT_TLS = """
 ParameterName               : ParameterValue
 ==========================================
 cert_file                   : /etc/asterisk/keys/sip.crt
 cipher                      : TLS_AES_256_GCM_SHA384, ECDHE-RSA-CHACHA20-POLY1305
 method                      : sslv23
 priv_key_file               : /etc/asterisk/keys/sip.key
 protocol                    : tls
"""
ENDPOINTS = """
 Endpoint:  <Endpoint/CID.....................................>  <State.....>  <Channels.>
    I/OAuth:  <AuthId/UserName...........................................................>
   Identify:  <Identify/Endpoint.........................................................>
        Match:  <criteria.........................>
==========================================================================================

 Endpoint:  carrier                                              Not in use    0 of inf
        Aor:  carrier                                            0
  Transport:  transport-udp             udp      0      0  0.0.0.0:5060
   Identify:  carrier-identify/carrier
        Match: 10.89.10.20/32

 Endpoint:  clerk/2002                                           Unavailable   0 of 1
     InAuth:  clerk/clerk
        Aor:  clerk                                              2
  Transport:  transport-tls             tls      0      0  0.0.0.0:5061

 Endpoint:  nuria/2001                                           Unavailable   0 of 1
     InAuth:  nuria/nuria
        Aor:  nuria                                              2
  Transport:  transport-tls             tls      0      0  0.0.0.0:5061


Objects found: 3
"""
ENDPOINT = """
 ParameterName                      : ParameterValue
 ===================================================================================================
 allow_unauthenticated_options      : false
 callerid                           : {callerid}
 context                            : from-staff-national
 media_encryption                   : sdes
 media_encryption_optimistic        : false
 transport                          : transport-tls
"""
NFT_RULESET = """table inet teletreball {
	set pbx_phone_sources {
		type ipv4_addr
		flags interval
		elements = { 10.89.64.2, 10.89.64.3,
			10.89.64.4 }
	}

	set pbx_trunk_sources {
		type ipv4_addr
		flags interval
		elements = { 10.89.10.20 }
	}

	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		tcp dport 22 ip saddr @ssh_sources_v4 accept comment "ssh"
		jump services
	}

	chain pbx_input {
		ip saddr @pbx_phone_sources tcp dport 5061 accept comment "SIP over TLS"
		ip saddr @pbx_phone_sources udp dport 10000-20000 accept comment "phones' media"
		ip saddr @pbx_trunk_sources udp dport 5060 accept comment "plain SIP: the carrier only"
		ip saddr @pbx_trunk_sources udp dport 10000-20000 accept comment "media of the carrier"
	}
}
"""
SS_PBX = """udp UNCONN 0 0 0.0.0.0:5060 0.0.0.0:*
tcp LISTEN 0 5 0.0.0.0:5061 0.0.0.0:*
tcp LISTEN 0 10 127.0.0.1:5038 0.0.0.0:*
tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=1542,fd=6))
"""
PJSIP_AUTH = f"""; Ansible managed
[nuria]
type = auth
auth_type = userpass
username = nuria
password = {SIP_CREDENTIAL}

[clerk]
type = auth
auth_type = userpass
username = clerk
password = {SIP_CREDENTIAL}
"""
MANAGER = f"""[general]
enabled = yes
port = 5038
bindaddr = 127.0.0.1

[teletreball]
secret = {AMI_KEY}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
"""
VOICEMAIL_USERS = """Context    Mbox  User                      Zone       NewMsg
staff      900   OAC                       council         0
staff      2001  Núria D'Amat i Pérez-Sole council         0
staff      2002  Clerk "Ferrer"  Puig ;--  council         0
3 voicemail users configured.
"""
APPLIED = "/var/lib/teletreball/applied"
STAMPED = {"/etc/asterisk/pjsip.conf": "res_pjsip.so",
           "/etc/fail2ban/jail.d/teletreball-asterisk.conf": "fail2ban"}


def _digest(path):
    return hashlib.sha256(path.encode()).hexdigest()


def pbx_host():
    def rx(command, text):
        commands[("asterisk", "-rx", command)] = ok(text)

    commands = {
        ("systemctl", "is-active", "asterisk.service"): ok("active\n"),
        ("systemctl", "is-active", "fail2ban.service"): ok("active\n"),
        ("ps", "-o", "user=", "-C", "asterisk"): ok("asterisk\nasterisk\n"),
        ("apt-cache", "policy", "asterisk"): ok(
            "asterisk:\n  Installed: 1:22.10.1\n  Version table:\n"
            " *** 1:22.10.1 500\n        500 http://repo teletreball-trixie/main amd64 Packages\n"
            "        100 /var/lib/dpkg/status\n"),
        ("nft", "list", "ruleset"): ok(NFT_RULESET),
        ("nft", "list", "chain", "inet", "teletreball", "pbx_input"): ok(NFT_RULESET),
        ("ss", "--no-header", "--listening", "--tcp", "--udp", "--numeric", "--processes"):
            ok(SS_PBX),
        ("stat", "/etc/asterisk/pjsip_auth.conf"): ok("640 root asterisk regular file\n"),
        ("stat", "/etc/asterisk/manager.conf"): ok("640 root asterisk regular file\n"),
        ("stat", "/var/lib/teletreball/voicemail-holders.json"): ok("600 root root regular file\n"),
        ("fail2ban-client", "status", "asterisk"): ok(
            "Status for the jail: asterisk\n|- Filter\n"
            "|  `- File list:\t/var/log/asterisk/security\n"),
        ("fail2ban-client", "get", "asterisk", "maxretry"): ok("5\n"),
        ("fail2ban-client", "get", "asterisk", "findtime"): ok("600\n"),
        ("fail2ban-client", "get", "asterisk", "bantime"): ok("3600\n"),
        ("fail2ban-client", "get", "asterisk", "actions"): ok(
            "The jail asterisk has the following actions:\n"
            "nftables-allports-tcp, nftables-allports-udp\n"),
        ("find", APPLIED, "-maxdepth", "1", "-type", "f", "-printf", "%f\n"): ok(
            "".join(urllib.parse.quote(p, safe="") + "\n" for p in STAMPED)),
        ("find", "/var/spool/asterisk/voicemail/staff", "-mindepth", "1", "-maxdepth", "1",
         "-printf", "%f\n"): ok("2001\n900\n"),
        ("find", "/var/backups/teletreball/voicemail", "-mindepth", "1", "-maxdepth", "1",
         "-printf", "%m %u %f\n"): ok("600 root 2003-20261201T100000Z.tar.gz\n"),
        ("stat", "/var/backups/teletreball/voicemail"): ok("700 root root directory\n"),
    }
    rx("pjsip show transports", TRANSPORTS)
    rx("pjsip show transport transport-tls", TRANSPORT_TLS)
    rx("pjsip show endpoints", ENDPOINTS)
    rx("pjsip show endpoint nuria", ENDPOINT.format(
        callerid="\"Núria D'Amat i Pérez-Soler\" <2001>"))
    rx("pjsip show endpoint clerk", ENDPOINT.format(
        callerid='"Clerk \\"Ferrer\\"; Puig ;-- \\\\" <2002>'))
    rx("pjsip show settings", " endpoint_identifier_order : ip,username\n")
    rx("pjsip show aors", "      Aor:  <Aor.........>  <MaxContact>\n\n"
                          "      Aor:  carrier                0\n"
                          "    Contact:  carrier/sip:10.89.10.20:5060   1946201ffc Avail  0.5\n"
                          "      Aor:  clerk                  2\n      Aor:  nuria      2\n")
    rx("module show", "Module   Description   Use Count  Status   Support Level\n"
       + "".join(f"res_mod{i}.so   Something   0   Running   core\n" for i in range(20))
       + "res_pjsip.so   PJSIP   0   Running   core\n338 modules loaded\n")
    rx("http show status", "HTTP Server Status:\nServer Disabled\n")
    rx("logger show channels", "Channel  Type  Formatter  Status  Configuration\n"
       "/var/log/asterisk/security          File     default    Enabled    - SECURITY \n")
    rx("voicemail show users for staff", VOICEMAIL_USERS)
    rx("manager show settings", "  Manager (AMI):             Yes\n"
       "  Web Manager (AMI/HTTP):    No\n"
       "  TCP Bindaddress:           127.0.0.1:5038\n  TLS Enable:                No\n")
    rx("manager show users", "\nusername\n--------\nteletreball\n-------------------\n"
       "1 manager users configured.\n")
    rx("manager show user teletreball", "          username: teletreball\n"
       "            secret: <Set>\nACL: (unnamed)\n---------\n"
       "  0:  deny - 0.0.0.0/0.0.0.0\n  1: allow - 127.0.0.1/255.255.255.255\n")
    files = {
        "/etc/asterisk/pjsip_auth.conf": PJSIP_AUTH,
        "/etc/asterisk/manager.conf": MANAGER,
        "/var/lib/teletreball/voicemail-holders.json": json.dumps({"holders": {
            "2001": PEOPLE[0]["identity"], "2002": PEOPLE[1]["identity"], "900": "oac"}}),
    }
    for path, label in STAMPED.items():
        files[f"{APPLIED}/{urllib.parse.quote(path, safe='')}"] = json.dumps(
            {"dest": path, "notify": [label], "sha256": _digest(path)})
        commands[("sha256sum", "--", path)] = ok(f"{_digest(path)}  {path}\n")
    return FakeHost(commands, files)


PBX_CONTROLS = ["PBX-TLS-01", "PBX-TLS-02", "PBX-ACC-01", "PBX-NET-01", "PBX-BAN-01",
                "PBX-DIR-01", "PBX-REV-01", "PBX-AMI-01", "PBX-VM-01"]


@pytest.mark.parametrize("control_id", PBX_CONTROLS)
def test_a_pbx_as_the_role_leaves_it_passes(control_id):
    passed(evaluate(control_id, pbx_host(), PBX_PARAMS))


def _rx(host, command, text):
    host.commands[("asterisk", "-rx", command)] = ok(text)


def test_tls_01_fails_with_a_cbc_cipher_root_or_optional_srtp():
    host = pbx_host()
    _rx(host, "pjsip show transport transport-tls",
        TRANSPORT_TLS.replace("ECDHE-RSA-CHACHA20-POLY1305", "AES128-SHA"))
    _rx(host, "pjsip show endpoint nuria", ENDPOINT.format(callerid="x").replace(
        "media_encryption                   : sdes", "media_encryption                   : no"))
    host.commands[("ps", "-o", "user=", "-C", "asterisk")] = ok("root\n")
    host.commands["tls_weak_accepted"] = True
    assert failed(evaluate("PBX-TLS-01", host, PBX_PARAMS)) == [
        "Asterisk runs as the user asterisk",
        "transport-tls: TLS 1.2+ with AEAD ciphers only",
        "TLS 1.1 is refused",
        "a TLS 1.2 cipher without AEAD is refused",
        "every staff endpoint: TLS transport, media_encryption sdes, not optimistic",
    ]


def test_tls_01_fails_when_asterisk_comes_from_elsewhere():
    host = pbx_host()
    host.commands[("apt-cache", "policy", "asterisk")] = ok(
        " *** 1:22.10.1 100\n        100 /var/lib/dpkg/status\n")
    assert failed(evaluate("PBX-TLS-01", host, PBX_PARAMS)) == [
        "Asterisk installed from the council's repository (teletreball-trixie)"]


def test_tls_02_fails_when_plain_udp_is_open_to_everybody_or_a_tcp_transport_exists():
    host = pbx_host()
    host.commands[("nft", "list", "ruleset")] = ok(NFT_RULESET.replace(
        "ip saddr @pbx_trunk_sources udp dport 5060", "udp dport 5060"))
    _rx(host, "pjsip show transports", TRANSPORTS.replace(
        "Objects found", "Transport:  transport-tcp             tcp      0      0  0.0.0.0:5060\n"
                         "Objects found"))
    _rx(host, "pjsip show settings", " endpoint_identifier_order : username,ip\n")
    assert failed(evaluate("PBX-TLS-02", host, PBX_PARAMS)) == [
        "no transport but TLS and the trunk's UDP 5060",
        "requests are identified by address first",
        "the firewall opens UDP 5060 to the trunk's addresses only",
    ]


def test_acc_01_fails_with_the_anonymous_module_the_web_server_or_open_options():
    host = pbx_host()
    _rx(host, "module show", host.commands[("asterisk", "-rx", "module show")][1]
        + "res_pjsip_endpoint_identifier_anonymous.so  Anon  0 Running core\n")
    _rx(host, "http show status", "HTTP Server Status:\nServer Enabled and Bound to 0.0.0.0:8088\n")
    _rx(host, "pjsip show endpoint clerk", ENDPOINT.format(callerid="x").replace(
        "allow_unauthenticated_options      : false", "allow_unauthenticated_options      : true"))
    host.files["/etc/asterisk/pjsip_auth.conf"] = PJSIP_AUTH.replace(SIP_CREDENTIAL, "short", 1)
    assert failed(evaluate("PBX-ACC-01", host, PBX_PARAMS)) == [
        "no anonymous endpoint, no protocol but PJSIP, no phone provisioning",
        "Asterisk's web server is off",
        "OPTIONS are challenged (allow_unauthenticated_options false)",
        "every staff auth has a password of 24+ characters (userpass)",
    ]


def test_net_01_fails_when_sip_tls_is_open_to_all_or_the_set_holds_strangers():
    host = pbx_host()
    host.commands[("nft", "list", "ruleset")] = ok(NFT_RULESET.replace(
        "ip saddr @pbx_phone_sources tcp dport 5061", "tcp dport 5061").replace(
        "10.89.64.4 }", "192.0.2.7 }").replace("policy drop", "policy accept"))
    assert failed(evaluate("PBX-NET-01", host, PBX_PARAMS)) == [
        "the firewall's input policy drops what is not accepted",
        "SIP over TLS (tcp 5061) accepted from the phones' set only",
        "the phones' set holds VPN devices and listed sources only",
    ]


def test_ban_01_fails_when_fail2ban_is_stopped():
    host = pbx_host()
    host.commands[("systemctl", "is-active", "fail2ban.service")] = (3, "inactive\n", "")
    for key in ("status",):
        host.commands[("fail2ban-client", key, "asterisk")] = (
            255, "", "ERROR Failed to access socket path: /var/run/fail2ban/fail2ban.sock")
    for key in ("maxretry", "findtime", "bantime", "actions"):
        host.commands[("fail2ban-client", "get", "asterisk", key)] = (255, "", "ERROR")
    requirements = failed(evaluate("PBX-BAN-01", host, PBX_PARAMS))
    assert requirements[:2] == ["fail2ban runs", "the jail asterisk is active"]


def test_ban_01_fails_with_other_limits():
    host = pbx_host()
    host.commands[("fail2ban-client", "get", "asterisk", "maxretry")] = ok("50\n")
    assert failed(evaluate("PBX-BAN-01", host, PBX_PARAMS)) == ["jail maxretry 5"]


def test_dir_01_fails_when_a_name_added_an_endpoint_or_changed_a_context():
    host = pbx_host()
    _rx(host, "pjsip show endpoints", ENDPOINTS.replace("\n\nObjects found", (
        "\n\n Endpoint:  evil/9999      Unavailable   0 of 1\n     InAuth:  evil/evil\n"
        "  Transport:  transport-tls             tls      0      0  0.0.0.0:5061\n"
        "\n\nObjects found")))
    _rx(host, "pjsip show endpoint clerk", ENDPOINT.format(callerid='"Clerk " <2002>').replace(
        "from-staff-national", "from-carrier"))
    assert failed(evaluate("PBX-DIR-01", host, PBX_PARAMS)) == [
        "one staff endpoint per present person with a phone, no other",
        "each endpoint has the person's name and extension as written, and a staff context",
    ]


def test_rev_01_fails_with_a_leavers_endpoint_or_a_reload_left_undone():
    host = pbx_host()
    params = dict(PBX_PARAMS, people=PEOPLE[:1])
    path = "/etc/asterisk/pjsip.conf"
    host.commands[("sha256sum", "--", path)] = ok(f"{_digest('other')}  {path}\n")
    assert failed(evaluate("PBX-REV-01", host, params)) == [
        "no endpoint of a person who is not present with a phone",
        "no address of record (registration) of anybody else",
        "every written file was applied (no reload pending from a stopped run)",
    ]


def test_ami_01_fails_on_every_address_or_with_a_readable_file():
    host = pbx_host()
    _rx(host, "manager show settings", "  Web Manager (AMI/HTTP):    No\n"
        "  TCP Bindaddress:           0.0.0.0:5038\n  TLS Enable:                No\n")
    host.commands[("ss", "--no-header", "--listening", "--tcp", "--udp", "--numeric",
                   "--processes")] = ok(SS_PBX.replace("127.0.0.1:5038", "0.0.0.0:5038"))
    host.commands[("stat", "/etc/asterisk/manager.conf")] = ok("644 root asterisk regular file\n")
    host.files["/etc/asterisk/manager.conf"] = MANAGER.replace(AMI_KEY, "short")
    assert failed(evaluate("PBX-AMI-01", host, PBX_PARAMS)) == [
        "AMI binds to 127.0.0.1:5038",
        "port 5038 listens on the loopback only",
        "/etc/asterisk/manager.conf is 0640 root:asterisk",
        "teletreball's secret has 32+ characters",
    ]


def test_vm_01_fails_with_a_leavers_mailbox_or_an_open_archive():
    host = pbx_host()
    host.commands[("find", "/var/spool/asterisk/voicemail/staff", "-mindepth", "1", "-maxdepth",
                   "1", "-printf", "%f\n")] = ok("2001\n2003\n")
    host.commands[("stat", "/var/backups/teletreball/voicemail")] = ok("755 root root directory\n")
    holders = json.loads(host.files["/var/lib/teletreball/voicemail-holders.json"])
    holders["holders"]["2002"] = "somebody-else"
    host.files["/var/lib/teletreball/voicemail-holders.json"] = json.dumps(holders)
    assert failed(evaluate("PBX-VM-01", host, PBX_PARAMS)) == [
        "each mailbox is recorded as its present holder's (by identity)",
        "no mailbox folder of anybody who left",
        "the archives are private (0700 folder, 0600 tar.gz)",
    ]


# --- the chat server -------------------------------------------------------------------
DOMAIN = "chat.test"
MUC = "rooms.chat.test"
CONF_PARAMS = {
    "domain": DOMAIN, "muc_host": MUC, "web_name": DOMAIN, "ca_file": "/etc/ca.crt",
    "http_port": 5280, "c2s_port": 5222, "tls_profile": "intermediate",
    "chat_people": ["anna", "oriol"],
    "rooms": [{"name": "oac", "state": "present",
               "affiliations": {f"anna@{DOMAIN}": "member", f"oriol@{DOMAIN}": "admin"}},
              {"name": "old", "state": "absent", "affiliations": {}}],
    "archive_dir": "/var/backups/teletreball/chat", "public_login": False, "guests": False,
    "guest_host": f"guest.{DOMAIN}", "login_max_failures": 10, "login_failure_window": 300,
    "chat_networks": ["10.89.64.0/24"], "http_redirect": False,
    "converse_version": "14.0.0", "converse_sha512": "ab" * 64,
    "manage_turn": True, "turn_denied_peers": ["10.0.0.0/8", "::1/128"],
    "turn_allowed_peers": [], "turn_credentials_ttl": 86400, "manage_video": True,
    "video_rooms": ["oac"], "janus_ws_port": 8188, "video_invitations": True,
    "video_invitation_max_hours": 24,
}
PROSODY_CFG = f'external_service_secret = "{TURN_KEY}"\nallow_registration = false\n'
TURN_CFG = f"""listening-port=3478
use-auth-secret
static-auth-secret={TURN_KEY}
no-tlsv1
no-tlsv1_1
no-cli
denied-peer-ip=10.0.0.0-10.255.255.255
denied-peer-ip=::1
allowed-peer-ip=10.89.10.12
"""
JANUS_CFG = f"""general: {{
	token_auth = true
	token_auth_secret = "{JANUS_SIGNING_KEY}"
}}
nat: {{
	ice_enforce_list = "10.89.10.12"
}}
plugins: {{
	disable = "libjanus_audiobridge.so,libjanus_sip.so"
}}
transports: {{
	disable = "libjanus_http.so,libjanus_mqtt.so"
}}
loggers: {{
	disable = "libjanus_jsonlog.so"
}}
events: {{
	disable = "libjanus_wsevh.so"
}}
"""
VIDEOROOM_CFG = f"""general: {{
	admin_key = "{JANUS_ADMIN}"
	string_ids = true
}}
room-oac: {{
	is_private = true
	signed_tokens = true
	secret = "{ROOM_KEY}"
}}
"""
WEBSOCKETS_CFG = """general: {
	ws = true
	ws_port = 8188
	ws_ip = "127.0.0.1"
	wss = false
}
admin: {
	admin_ws = false
	admin_wss = false
}
"""
DROPIN = """[Service]
ExecStartPre=/usr/local/sbin/teletreball-janus-check --kind core /etc/janus/janus.jcfg
ExecStartPre=/usr/local/sbin/teletreball-janus-check --kind websockets /etc/janus/ws.jcfg
ExecStartPre=/usr/local/sbin/teletreball-janus-check --kind videoroom /etc/janus/vr.jcfg
User=janus
"""
NGINX_SITE = """server {
	location = /xmpp-websocket {
		allow 127.0.0.1/32;
		allow 10.89.64.2;
		deny all;
		proxy_pass http://127.0.0.1:5280/xmpp-websocket;
	}
	location = /http-bind {
		allow 127.0.0.1/32;
		allow 10.89.64.2;
		deny all;
		proxy_pass http://127.0.0.1:5280/http-bind;
	}
}
"""
CONF_NFT = """table inet teletreball {
	set conference_chat_sources {
		type ipv4_addr
		flags interval
		elements = { 10.89.64.2, 10.89.64.3 }
	}

	chain conference_input {
		ip saddr @conference_chat_sources tcp dport 5222 accept comment "XMPP clients from the VPN"
		tcp dport 443 accept comment "web chat and video rooms"
	}
}
"""
SS_CONF = """tcp LISTEN 0 128 0.0.0.0:5222 0.0.0.0:*
tcp LISTEN 0 511 0.0.0.0:443 0.0.0.0:* users:(("nginx",pid=1,fd=6))
tcp LISTEN 0 511 [::]:443 [::]:* users:(("nginx",pid=1,fd=7))
tcp LISTEN 0 128 127.0.0.1:5280 0.0.0.0:*
tcp LISTEN 0 128 [::1]:5280 [::]:*
tcp LISTEN 0 4096 127.0.0.1:8188 0.0.0.0:*
udp UNCONN 0 0 10.89.10.12:3478 0.0.0.0:*
"""
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "object-src 'none'; frame-ancestors 'none'")
HEADERS = ("Strict-Transport-Security: max-age=63072000\nContent-Security-Policy: " + CSP
           + "\nX-Content-Type-Options: nosniff\nX-Frame-Options: DENY\n"
             "Referrer-Policy: no-referrer\n")


def _lua(text):
    return '"' + text + '"'


def conf_host():
    from ansible.module_utils import teletreball_checks_conference as checks

    commands = {}

    def shell(command, text):
        commands[("prosodyctl", "shell", command)] = ok(text)

    def get(host, key, value):
        shell(f"config:get({_lua(host)}, {_lua(key)})", f"OK: {value}\n")

    def https(path, status="200", permissions="camera=(), microphone=(), display-capture=()"):
        commands[("python3", "-c", checks.HTTPS_HEADERS, DOMAIN, "/etc/ca.crt", path)] = ok(
            f"HTTP {status} TLSv1.3\n{HEADERS}Permissions-Policy: {permissions}\n")

    for unit in ("prosody", "nginx", "coturn", "janus"):
        commands[("systemctl", "is-active", f"{unit}.service")] = ok("active\n")
    commands[("prosodyctl", "check", "config")] = ok("All checks passed, congratulations!\n")
    commands[("prosodyctl", "check", "certs")] = ok("All checks passed, congratulations!\n")
    shell("host:list()", f"{DOMAIN}\n{MUC} (muc component)\nOK: 2 hosts\n")
    shell(f"module:list({_lua(DOMAIN)})", f"{DOMAIN}:\n    c2s\n    saslauth\n    tls\n"
          "    teletreball_login\n    teletreball_video\n    external_services\n")
    shell(f"module:list({_lua(MUC)})", f"{MUC}:\n    muc\n    muc_mam\n")
    get(DOMAIN, "c2s_require_encryption", "true")
    get(DOMAIN, "tls_profile", '"intermediate"')
    get(DOMAIN, "allow_registration", "false")
    get(DOMAIN, "authentication", '"internal_hashed"')
    get(DOMAIN, "teletreball_video_rooms", '{\n\t"oac";\n}')
    get(DOMAIN, "teletreball_video_invite_max", "86400")
    get(DOMAIN, "teletreball_login_max_failures", "10")
    get(DOMAIN, "teletreball_login_failure_window", "300")
    get(DOMAIN, "teletreball_login_networks", '{\n\t"127.0.0.1/32";\n\t"10.89.64.2";\n}')
    get(DOMAIN, "external_services", '{\n\t{\n\t\ttype = "turn";\n\t\tsecret = true;\n'
        '\t\tttl = 86400;\n\t};\n\t{\n\t\ttype = "turns";\n\t\tsecret = true;\n'
        '\t\tttl = 86400;\n\t};\n}')
    get(MUC, "restrict_room_creation", "true")
    get("*", "http_interfaces", '{\n\t"127.0.0.1";\n\t"::1";\n}')
    get("*", "https_ports", "{\n}")
    accounts = (
        ">local um = require'core.usermanager'; local t = {}; "
        f"for u in um.users({_lua(DOMAIN)}) do "
        f"t[#t+1] = u..'='..tostring(um.user_is_enabled(u, {_lua(DOMAIN)})) end; "
        "table.sort(t); return table.concat(t, ' ')")
    shell(accounts, "Result: anna=true joan=false oriol=true\n")
    rooms = (
        f">local m = prosody.hosts[{_lua(MUC)}].modules.muc; local t = {{}}; "
        "for r in m.all_rooms() do t[#t+1] = r.jid"
        "..' members_only='..tostring(r:get_members_only())"
        "..' persistent='..tostring(r:get_persistent())..' hidden='..tostring(r:get_hidden())"
        "..' public='..tostring(r:get_public())..' archiving='..tostring(r._data.archiving == true)"
        " end; table.sort(t); return table.concat(t, '; ')")
    shell(rooms, f"Result: oac@{MUC} members_only=true persistent=true hidden=true public=false "
                 "archiving=true\n")
    shell(f"muc:affiliations({_lua('oac@' + MUC)})",
          f"Affiliation  | JID   | Nickname\nadmin        | oriol@{DOMAIN}   |\n"
          f"member       | anna@{DOMAIN}    |\nOK: 2 affiliations listed\n")
    shell("c2s:show()", f"Session ID | JID | Role\nc2s1 | anna@{DOMAIN}/web | member\n"
                        "OK: 1 c2s sessions shown\n")
    commands[("ss", "--no-header", "--listening", "--tcp", "--udp", "--numeric",
              "--processes")] = ok(SS_CONF)
    commands[("nft", "list", "ruleset")] = ok(CONF_NFT)
    commands[("stat", "/var/backups/teletreball/chat")] = ok("700 root root directory\n")
    commands[("find", "/var/backups/teletreball/chat", "-mindepth", "1", "-maxdepth", "1",
              "-printf", "%m %u %f\n")] = ok("600 root joan-20261201.tar.gz\n")
    https("/")
    https("/no-such-page", "404")
    https("/video/", permissions="camera=(self), microphone=(self), display-capture=(self)")
    https("/xmpp-websocket", "400")
    https("/http-bind", "200")
    tarball = "/var/lib/teletreball/converse/converse.js-14.0.0.tgz"
    commands[("sha512sum", "--", tarball)] = ok(f"{'ab' * 64}  {tarball}\n")
    commands[("readlink", "-f", "--", "/var/www/teletreball-chat/dist")] = ok(
        "/var/lib/teletreball/converse/14.0.0/package/dist\n")
    commands[("find", "/var/lib/teletreball/converse/14.0.0", "-mindepth", "1", "-maxdepth",
              "2", "-printf", "%P\n")] = ok("package\npackage/dist\n")
    commands[("ps", "-o", "user=", "-C", "turnserver")] = ok("turnserver\n")
    commands[("ps", "-o", "user=", "-C", "janus")] = ok("janus\n")
    commands[("stat", "/etc/turnserver.conf")] = ok("640 root turnserver regular file\n")
    commands[("stat", "/etc/janus/janus.jcfg")] = ok("640 root janus regular file\n")
    commands[("stat", "/etc/janus/janus.plugin.videoroom.jcfg")] = ok(
        "640 root janus regular file\n")
    commands[("/usr/local/sbin/teletreball-janus-check", "--live")] = ok("")
    commands[("systemctl", "show", "janus.service", "--property",
              "User,NoNewPrivileges,CapabilityBoundingSet,AmbientCapabilities,ProtectSystem")] = ok(
        "User=janus\nNoNewPrivileges=yes\nCapabilityBoundingSet=\nAmbientCapabilities=\n"
        "ProtectSystem=strict\n")
    files = {
        "/etc/prosody/prosody.cfg.lua": PROSODY_CFG,
        "/etc/turnserver.conf": TURN_CFG,
        "/etc/janus/janus.jcfg": JANUS_CFG,
        "/etc/janus/janus.plugin.videoroom.jcfg": VIDEOROOM_CFG,
        "/etc/janus/janus.transport.websockets.jcfg": WEBSOCKETS_CFG,
        "/etc/systemd/system/janus.service.d/teletreball.conf": DROPIN,
        "/etc/nginx/sites-available/teletreball-conference": NGINX_SITE,
    }
    return FakeHost(commands, files)


CONF_CONTROLS = ["CONF-TLS-01", "CONF-ACC-01", "CONF-MUC-01", "CONF-REV-01", "CONF-NET-01",
                 "CONF-WEB-01", "CONF-SUP-01", "CONF-TURN-01", "CONF-VID-01", "CONF-VID-02",
                 "CONF-VID-03", "CONF-VID-04", "CONF-LOGIN-01"]


@pytest.mark.parametrize("control_id", CONF_CONTROLS)
def test_a_chat_server_as_the_role_leaves_it_passes(control_id):
    passed(evaluate(control_id, conf_host(), CONF_PARAMS))


def _get(host, target, key, value):
    host.commands[("prosodyctl", "shell", f"config:get({_lua(target)}, {_lua(key)})")] = ok(
        f"OK: {value}\n")


def _shell(host, command, text):
    host.commands[("prosodyctl", "shell", command)] = ok(text)


def test_tls_01_fails_without_required_encryption_with_s2s_or_tls_1_1():
    host = conf_host()
    _get(host, DOMAIN, "c2s_require_encryption", "false")
    _shell(host, f"module:list({_lua(DOMAIN)})", f"{DOMAIN}:\n    c2s\n    s2s\n")
    host.commands["tls_weak_accepted"] = True
    assert failed(evaluate("CONF-TLS-01", host, CONF_PARAMS)) == [
        "encryption required on every client connection",
        "federation (s2s) is not loaded",
        "TLS 1.1 is refused on the client port",
    ]


def test_acc_01_fails_with_registration_an_extra_account_or_an_anonymous_host():
    host = conf_host()
    params = dict(CONF_PARAMS, chat_people=["anna"])
    _get(host, DOMAIN, "allow_registration", "true")
    _shell(host, f"module:list({_lua(MUC)})", f"{MUC}:\n    muc\n    register_ibr\n")
    _get(host, DOMAIN, "authentication", '"anonymous"')
    assert failed(evaluate("CONF-ACC-01", host, params)) == [
        "the enabled chat accounts are the present people granted chat",
        "in-band registration is off",
        "no registration or password-change module, no anonymous login module",
        "no anonymous host",
        "passwords stored as SCRAM hashes",
    ]


def test_muc_01_fails_with_an_open_room_or_a_stranger_member():
    host = conf_host()
    _get(host, MUC, "restrict_room_creation", "false")
    rooms = [k for k in host.commands if k[:2] == ("prosodyctl", "shell")
             and "all_rooms" in k[2]][0]
    host.commands[rooms] = ok(f"Result: oac@{MUC} members_only=false persistent=true "
                              "hidden=true public=false archiving=true; "
                              f"party@{MUC} members_only=true persistent=true hidden=true "
                              "public=false archiving=true\n")
    _shell(host, f"muc:affiliations({_lua('oac@' + MUC)})",
           f"admin | oriol@{DOMAIN} |\nmember | anna@{DOMAIN} |\nmember | joan@{DOMAIN} |\n")
    assert failed(evaluate("CONF-MUC-01", host, CONF_PARAMS)) == [
        "only the role creates rooms",
        "the rooms are those of conference_rooms",
        "every room is members-only, persistent, hidden and archived",
        "each room's members and admins come from the directory",
    ]


def test_rev_01_fails_while_a_leaver_is_enabled_and_connected():
    host = conf_host()
    params = dict(CONF_PARAMS, chat_people=["oriol"])
    host.commands[("stat", "/var/backups/teletreball/chat")] = ok("755 root root directory\n")
    assert failed(evaluate("CONF-REV-01", host, params)) == [
        "the account of everybody no longer present is disabled",
        "nobody who is not present has an open session",
        "the archives are private (0700 folder, 0600 tar.gz)",
    ]


def test_net_01_fails_when_prosodys_web_server_listens_on_every_address():
    host = conf_host()
    host.commands[("ss", "--no-header", "--listening", "--tcp", "--udp", "--numeric",
                   "--processes")] = ok(SS_CONF.replace("127.0.0.1:5280", "0.0.0.0:5280"))
    _get(host, "*", "http_interfaces", '{\n\t"*";\n}')
    assert failed(evaluate("CONF-NET-01", host, CONF_PARAMS)) == [
        "Prosody's web server is configured on the loopback only",
        "port 5280 listens on 127.0.0.1 and ::1 only",
    ]


def test_web_01_fails_on_port_80_with_an_inline_script_csp_and_tls_1_1():
    from ansible.module_utils import teletreball_checks_conference as checks

    host = conf_host()
    host.commands[("ss", "--no-header", "--listening", "--tcp", "--udp", "--numeric",
                   "--processes")] = ok(SS_CONF + 'tcp LISTEN 0 511 0.0.0.0:80 0.0.0.0:* '
                                                  'users:(("nginx",pid=1,fd=8))\n')
    host.commands["tls_weak_accepted"] = True
    key = ("python3", "-c", checks.HTTPS_HEADERS, DOMAIN, "/etc/ca.crt", "/")
    host.commands[key] = ok(host.commands[key][1].replace(
        "script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
        "max-age=63072000", "max-age=300"))
    assert failed(evaluate("CONF-WEB-01", host, CONF_PARAMS)) == [
        "nginx listens on 443 only",
        "TLS 1.1 is refused",
        "the web chat: HSTS of a year or more",
        "the web chat: a CSP that allows scripts from the site only",
    ]


def test_sup_01_fails_with_another_tarball_or_more_than_dist():
    host = conf_host()
    tarball = "/var/lib/teletreball/converse/converse.js-14.0.0.tgz"
    host.commands[("sha512sum", "--", tarball)] = ok(f"{'cd' * 64}  {tarball}\n")
    host.commands[("find", "/var/lib/teletreball/converse/14.0.0", "-mindepth", "1",
                   "-maxdepth", "2", "-printf", "%P\n")] = ok(
        "package\npackage/dist\npackage/src\n")
    assert failed(evaluate("CONF-SUP-01", host, CONF_PARAMS)) == [
        "the release 14.0.0 has the pinned sha512",
        "only dist/ is unpacked",
    ]


def test_turn_01_fails_with_tls_1_1_the_console_a_private_peer_or_another_secret():
    host = conf_host()
    host.files["/etc/turnserver.conf"] = (
        TURN_CFG.replace("no-tlsv1_1\n", "").replace("no-cli\n", "")
        .replace("denied-peer-ip=10.0.0.0-10.255.255.255\n", "")
        .replace("allowed-peer-ip=10.89.10.12", "allowed-peer-ip=10.0.0.1")
        .replace(TURN_KEY, TURN_KEY[::-1]))
    assert failed(evaluate("CONF-TURN-01", host, CONF_PARAMS)) == [
        "Prosody hands out credentials made with coturn's secret",
        "TLS 1.0 and 1.1 off, no telnet console",
        "every private and reserved range is a denied peer",
        "the only allowed peers are the council's media hosts",
    ]


def test_vid_01_fails_without_tokens_or_with_a_public_room():
    host = conf_host()
    host.files["/etc/janus/janus.jcfg"] = JANUS_CFG.replace("token_auth = true",
                                                            "token_auth = false")
    host.files["/etc/janus/janus.plugin.videoroom.jcfg"] = VIDEOROOM_CFG.replace(
        "is_private = true", "is_private = false")
    host.commands[("/usr/local/sbin/teletreball-janus-check", "--live")] = (
        1, "", "teletreball-janus-check: token authentication is off\n")
    assert failed(evaluate("CONF-VID-01", host, CONF_PARAMS)) == [
        "Janus requires signed tokens",
        "every room private with signed tokens and a secret; rooms created by the role only",
        "the running Janus requires tokens (info: auth_token)",
    ]


def test_vid_02_fails_when_janus_listens_outside_or_the_video_page_lacks_permissions():
    host = conf_host()
    host.commands[("ss", "--no-header", "--listening", "--tcp", "--udp", "--numeric",
                   "--processes")] = ok(SS_CONF.replace("127.0.0.1:8188", "0.0.0.0:8188"))
    host.files["/etc/janus/janus.transport.websockets.jcfg"] = WEBSOCKETS_CFG.replace(
        "admin_ws = false", "admin_ws = true")
    from ansible.module_utils import teletreball_checks_conference as checks

    key = ("python3", "-c", checks.HTTPS_HEADERS, DOMAIN, "/etc/ca.crt", "/video/")
    host.commands[key] = ok(host.commands[key][1].replace("camera=(self)", "camera=()"))
    assert failed(evaluate("CONF-VID-02", host, CONF_PARAMS)) == [
        "Janus's WebSocket (tcp 8188) listens on the loopback only",
        "no TLS listener of Janus's own and no admin WebSocket (nginx terminates TLS)",
        "the video page may use the camera, microphone and screen capture",
    ]


def test_vid_03_fails_when_coturn_may_not_reach_janus():
    host = conf_host()
    host.files["/etc/turnserver.conf"] = TURN_CFG.replace("allowed-peer-ip=10.89.10.12\n", "")
    assert failed(evaluate("CONF-VID-03", host, CONF_PARAMS)) == [
        "coturn may relay to the addresses Janus offers"]


def test_vid_04_fails_as_root_with_an_admin_api_or_an_extra_plugin():
    host = conf_host()
    host.commands[("ps", "-o", "user=", "-C", "janus")] = ok("root\n")
    host.files["/etc/janus/janus.jcfg"] = JANUS_CFG.replace(
        "token_auth = true", 'token_auth = true\n\tadmin_secret = "x"')
    host.commands[("/usr/local/sbin/teletreball-janus-check", "--live")] = (
        1, "", "teletreball-janus-check: plugins loaded: janus.plugin.echotest, "
               "janus.plugin.videoroom\n")
    assert failed(evaluate("CONF-VID-04", host, CONF_PARAMS)) == [
        "Janus runs as the user janus",
        "no API secret and no admin API",
        "the running Janus loaded the VideoRoom plugin and the WebSocket transport only, "
        "no event handler",
    ]


def test_login_01_fails_when_xmpp_or_the_web_login_is_open_to_anybody():
    host = conf_host()
    host.commands[("nft", "list", "ruleset")] = ok(CONF_NFT.replace(
        "ip saddr @conference_chat_sources tcp dport 5222", "tcp dport 5222"))
    host.files["/etc/nginx/sites-available/teletreball-conference"] = NGINX_SITE.replace(
        "\t\tdeny all;\n", "", 1)
    _get(host, DOMAIN, "teletreball_login_networks", '{\n\t"127.0.0.1/32";\n\t"0.0.0.0/0";\n}')
    assert failed(evaluate("CONF-LOGIN-01", host, CONF_PARAMS)) == [
        "SASL logins only from the VPN devices granted chat (and the listed sources)",
        "the firewall opens XMPP (tcp 5222) to the chat's sources only",
        "nginx answers 403 to the web logins of any other address",
    ]
