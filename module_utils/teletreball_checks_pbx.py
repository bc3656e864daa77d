# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live checks of the PBX (PBX-*): see module_utils/teletreball_audit.py.

They read Asterisk's own view through its CLI (``asterisk -rx``, read-only
commands: ``pjsip show ...``, ``manager show ...``, ``module show``), fail2ban's
(``fail2ban-client status/get``), nft's ruleset, the listening sockets and the
files' modes. The files that hold secrets (pjsip_auth.conf, manager.conf) are
read without evidence: only the lines stated are quoted, never a secret.

Parameters read from ``ctx.params`` (roles/pbx/tasks/audit.yml passes them):
  tls_port, udp_port, rtp_first, rtp_last, ami_port, ami_username
  address              the name the phones connect to (the certificate's name)
  certificate_name     the PKI certificate of the TLS transport (keys/<name>.crt)
  ca_file              the council's CA on the host
  media_encryption     sdes
  trunk_sources        addresses/CIDR of the carrier (empty: no trunk, no plain UDP)
  phone_networks       CIDR the phones' set may hold (the VPN pool, pbx_sip_extra_sources)
  fail2ban_max_retry, fail2ban_find_time, fail2ban_ban_time
  people               [{username, name, extension, identity}] present people with a phone
  oac_mailbox          the OAC's mailbox number
  voicemail_archive_dir
  repo_suite           the suite of the council's repository Asterisk comes from
  sip_password_min_length
"""

from __future__ import annotations

import json
import re
import urllib.parse

from ansible.module_utils.teletreball_audit import CheckError, control
from ansible.module_utils.teletreball_audit_parsers import (
    accept_rules,
    as_network,
    expect_private_archives,
    expect_runs_as,
    handshake_line,
    mode_line,
    parse_nft_set,
    unit_active,
)

KEYS_DIR = "/etc/asterisk/keys"
APPLIED_DIR = "/var/lib/teletreball/applied"
VOICEMAIL_DIR = "/var/spool/asterisk/voicemail/staff"
HOLDERS_FILE = "/var/lib/teletreball/voicemail-holders.json"
FAIL2BAN_JAIL = "/etc/fail2ban/jail.d/teletreball-asterisk.conf"
SECURITY_LOG = "/var/log/asterisk/security"
AEAD = re.compile(r"GCM|CHACHA20|CCM")
# Protocols other than PJSIP, phone provisioning and the anonymous endpoint.
FORBIDDEN_MODULES = (
    "res_pjsip_endpoint_identifier_anonymous.so", "chan_sip.so", "chan_iax2.so",
    "chan_skinny.so", "chan_mgcp.so", "chan_unistim.so", "chan_ooh323.so", "chan_motif.so",
    "res_xmpp.so", "res_phoneprov.so", "res_pjsip_phoneprov_provider.so",
)


# --- Asterisk's CLI --------------------------------------------------------------
def _cli(ctx, command, evidence=True):
    """The output of a read-only CLI command of the running Asterisk."""
    result = ctx.run("asterisk", "-rx", command, evidence=evidence)
    if result.rc != 0 or "Unable to connect to remote asterisk" in result.stdout + result.stderr:
        output = (result.stderr or result.stdout)[:300]
        raise CheckError(f"asterisk -rx '{command}' failed: {output}")
    return result.stdout


def parse_transports(text):
    """[{name, type, bind}] of ``pjsip show transports``."""
    found = []
    for line in text.splitlines():
        match = re.match(r"^Transport:\s+(\S+)\s+(\S+)\s+\d+\s+\d+\s+(\S+)\s*$", line)
        if match and not match.group(1).startswith("<"):
            found.append({"name": match.group(1), "type": match.group(2),
                          "bind": match.group(3)})
    return found


def parse_endpoints(text):
    """{name: {auth, transport, matches}} of ``pjsip show endpoints``."""
    endpoints, current = {}, None
    for line in text.splitlines():
        key, _, rest = line.strip().partition(":")
        fields = rest.split()
        if not fields or fields[0].startswith("<"):
            continue
        if key == "Endpoint":
            name = fields[0].split("/", 1)[0]
            current = endpoints.setdefault(name, {"auth": [], "transport": None, "matches": []})
            current["count"] = current.get("count", 0) + 1
        elif current is None:
            continue
        elif key == "InAuth":
            current["auth"].append(fields[0])
        elif key == "Transport":
            current["transport"] = fields[0]
        elif key == "Match":
            current["matches"].append(fields[0])
    return endpoints


def parse_parameters(text):
    """{name: value} of a ``pjsip show endpoint|transport`` detail ("name : value")."""
    values = {}
    for line in text.splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_]+)\s+:\s?(.*?)\s*$", line)
        if match:
            values.setdefault(match.group(1), match.group(2))
    return values


def _endpoints(ctx):
    return parse_endpoints(_cli(ctx, "pjsip show endpoints"))


def _staff(endpoints):
    """The endpoints that authenticate a person (an inbound auth)."""
    return {name: e for name, e in endpoints.items() if e["auth"]}


def _endpoint_details(ctx, names):
    """{name: parameters} of each endpoint (no evidence: one line is stated per check)."""
    return {name: parse_parameters(_cli(ctx, f"pjsip show endpoint {name}", evidence=False))
            for name in sorted(names)}


def _expect_asterisk_readable(ctx, path):
    """State that ``path`` (holding secrets) is 0640 root:asterisk."""
    info = ctx.stat(path)
    ctx.expect(info is not None and (info["mode"], info["user"], info["group"])
               == ("0640", "root", "asterisk"),
               f"{path} is 0640 root:asterisk",
               mode_line(path, info))


def _people(ctx):
    return list(ctx.params.get("people") or [])


def _callerid_ok(shown, name, extension):
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return shown in (f'"{name}" <{extension}>', f'"{escaped}" <{extension}>')


# --- nft ----------------------------------------------------------------------
def _same_sources(found, wanted):
    try:
        return (sorted(map(str, map(as_network, found)))
                == sorted(map(str, map(as_network, wanted))))
    except ValueError:
        return False


def _ruleset(ctx):
    return ctx.output("nft", "list", "ruleset")


# --- PBX-TLS-01 ----------------------------------------------------------------
@control("PBX-TLS-01")
def pbx_tls_and_srtp(ctx):
    expect_runs_as(ctx, "asterisk.service", "Asterisk", "asterisk", "asterisk")
    policy = ctx.run("apt-cache", "policy", "asterisk").stdout
    suite = ctx.params.get("repo_suite", "teletreball-trixie")
    installed = policy.split("***", 1)[1].splitlines()[:3] if "***" in policy else []
    source = [line.strip() for line in installed[1:] if "/var/lib/dpkg/status" not in line]
    ctx.expect(any(f" {suite}/" in f" {line}" for line in source),
               f"Asterisk installed from the council's repository ({suite})",
               "; ".join(source) or "installed version from no repository")

    port = int(ctx.params.get("tls_port", 5061))
    tls = [t for t in parse_transports(_cli(ctx, "pjsip show transports")) if t["type"] == "tls"]
    ctx.expect(any(t["bind"].endswith(f":{port}") for t in tls),
               f"a TLS transport on port {port}",
               "; ".join(f"{t['name']} {t['type']} {t['bind']}" for t in tls) or "no TLS transport")
    for transport in tls:
        detail = parse_parameters(_cli(ctx, f"pjsip show transport {transport['name']}"))
        method, ciphers = detail.get("method", ""), detail.get("cipher", "")
        names = [c.strip() for c in ciphers.split(",") if c.strip()]
        ctx.expect(method == "tlsv1_3" or (method in ("sslv23", "tlsv1_2") and names
                                             and all(AEAD.search(c) for c in names)),
                   f"{transport['name']}: TLS 1.2+ with AEAD ciphers only",
                   f"method {method}, cipher {ciphers or '(OpenSSL default)'}")
        wanted = f"{KEYS_DIR}/{ctx.params.get('certificate_name', 'sip')}.crt"
        ctx.expect(detail.get("cert_file") == wanted,
                   f"{transport['name']} presents the PKI's certificate {wanted}",
                   f"cert_file {detail.get('cert_file')}")
    address = ctx.params.get("address", "localhost")
    ca_file = ctx.params.get("ca_file", "/etc/teletreball/pki/ca.crt")
    probe = ("timeout", "10", "openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-brief")
    ok = ctx.run(*probe, "-tls1_2", "-servername", address, "-CAfile", ca_file,
                 "-verify_hostname", address, "-verify_return_error")
    ctx.expect(ok.rc == 0 and "Verification: OK" in ok.stderr + ok.stdout,
               f"a TLS 1.2 handshake verifies the certificate for {address} with the CA",
               handshake_line(ok))
    old = ctx.run(*probe, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0")
    ctx.expect(old.rc != 0, "TLS 1.1 is refused", handshake_line(old))
    cbc = ctx.run(*probe, "-tls1_2", "-cipher", "AES128-SHA256:AES256-SHA256:AES128-SHA")
    ctx.expect(cbc.rc != 0, "a TLS 1.2 cipher without AEAD is refused", handshake_line(cbc))

    staff = _staff(_endpoints(ctx))
    wanted = ctx.params.get("media_encryption", "sdes")
    bad = []
    for name, detail in _endpoint_details(ctx, staff).items():
        shown = (detail.get("transport"), detail.get("media_encryption"),
                 detail.get("media_encryption_optimistic"))
        if shown != ("transport-tls", wanted, "false"):
            bad.append(f"{name}: transport {shown[0]}, media_encryption {shown[1]}, "
                       f"optimistic {shown[2]}")
    ctx.expect(staff and not bad,
               f"every staff endpoint: TLS transport, media_encryption {wanted}, not optimistic",
               "; ".join(bad) or f"{len(staff)} staff endpoints: transport-tls, "
               f"media_encryption {wanted}, media_encryption_optimistic false")


# --- PBX-TLS-02 ----------------------------------------------------------------
@control("PBX-TLS-02")
def pbx_plain_udp_for_the_trunk_only(ctx):
    udp_port = int(ctx.params.get("udp_port", 5060))
    trunk = list(ctx.params.get("trunk_sources") or [])
    transports = parse_transports(_cli(ctx, "pjsip show transports"))
    other = [t for t in transports if t["type"] != "tls"
             and not (trunk and t["type"] == "udp" and t["bind"].endswith(f":{udp_port}"))]
    ctx.expect(not other,
               "no transport but TLS" + (f" and the trunk's UDP {udp_port}" if trunk else ""),
               "; ".join(f"{t['name']} {t['type']} {t['bind']}" for t in transports))
    order = parse_parameters(_cli(ctx, "pjsip show settings")).get("endpoint_identifier_order", "")
    ctx.expect(order.split(",")[:1] == ["ip"], "requests are identified by address first",
               f"endpoint_identifier_order {order}")
    endpoints = _endpoints(ctx)
    identified = {name: e for name, e in endpoints.items() if e["matches"]}
    ctx.expect(all(not e["auth"] for e in identified.values()),
               "an endpoint identified by address holds no staff account",
               "; ".join(f"{n}: match {' '.join(e['matches'])}, inbound auth "
                         f"{' '.join(e['auth']) or 'none'}" for n, e in identified.items())
               or "no endpoint identified by address")
    matches = [m for e in identified.values() for m in e["matches"]]
    ctx.expect(_same_sources(matches, trunk), "only the trunk's addresses are identified",
               f"match {' '.join(matches) or '(none)'}; trunk {' '.join(trunk) or '(none)'}")
    staff = _staff(endpoints)
    off_tls = [f"{n}: {e['transport']}" for n, e in staff.items()
               if e["transport"] != "transport-tls"]
    ctx.expect(not off_tls, "staff endpoints use the TLS transport",
               "; ".join(off_tls) or f"{len(staff)} staff endpoints on transport-tls")
    ruleset = ctx.run("nft", "list", "ruleset", evidence=False)
    if ruleset.rc != 0:
        raise CheckError(f"nft list ruleset failed: {ruleset.stderr.strip()[:300]}")
    rules = accept_rules(ruleset.stdout, "udp", udp_port)
    ctx.expect(all("ip saddr @pbx_trunk_sources" in rule for rule in rules),
               f"the firewall opens UDP {udp_port} to the trunk's addresses only",
               "; ".join(rules) or f"no rule accepts udp {udp_port}")
    elements = parse_nft_set(ruleset.stdout, "pbx_trunk_sources") or []
    ctx.expect(not rules or _same_sources(elements, trunk),
               "the firewall's trunk set holds the trunk's addresses only",
               f"set pbx_trunk_sources {{ {', '.join(elements)} }}; trunk {' '.join(trunk)}")


# --- PBX-ACC-01 ----------------------------------------------------------------
@control("PBX-ACC-01")
def pbx_every_request_authenticated(ctx):
    modules = _cli(ctx, "module show", evidence=False)
    loaded = {line.split()[0] for line in modules.splitlines()
              if line.split() and line.split()[0].endswith(".so")}
    ctx.expect(len(loaded) > 10, "Asterisk's module list is readable",
               f"{len(loaded)} modules loaded")
    found = [name for name in FORBIDDEN_MODULES if name in loaded]
    ctx.expect(not found, "no anonymous endpoint, no protocol but PJSIP, no phone provisioning",
               "loaded: " + (", ".join(found) if found else
                             "none of " + ", ".join(m[:-3] for m in FORBIDDEN_MODULES)))
    http = _cli(ctx, "http show status")
    ctx.expect("Server Disabled" in http, "Asterisk's web server is off",
               next((line for line in http.splitlines() if "Server" in line and "Disabled" in line
                     or "Server Enabled" in line), "http show status: no 'Server Disabled'"))
    endpoints = _endpoints(ctx)
    open_ = [n for n, e in endpoints.items() if not e["auth"] and not e["matches"]]
    ctx.expect("anonymous" not in endpoints and not open_,
               "every endpoint authenticates its requests or is the trunk identified by address",
               ("endpoints without auth or address: " + ", ".join(open_)) if open_ else
               f"{len(_staff(endpoints))} endpoints with inbound auth; by address: "
               + (", ".join(n for n, e in endpoints.items() if e["matches"]) or "none"))
    staff = _staff(endpoints)
    options = {n: d.get("allow_unauthenticated_options")
               for n, d in _endpoint_details(ctx, staff).items()}
    bad = [f"{n}: {v}" for n, v in options.items() if v != "false"]
    ctx.expect(not bad, "OPTIONS are challenged (allow_unauthenticated_options false)",
               "; ".join(bad)
               or f"{len(options)} staff endpoints: allow_unauthenticated_options false")
    path = "/etc/asterisk/pjsip_auth.conf"
    _expect_asterisk_readable(ctx, path)
    auths = parse_auths(ctx.read(path, evidence=False) or "")
    minimum = int(ctx.params.get("sip_password_min_length", 20))
    used = sorted({a.split("/", 1)[0] for e in staff.values() for a in e["auth"]})
    weak = [name for name in used if len(auths.get(name, {}).get("password", "")) < minimum
            or auths.get(name, {}).get("auth_type", "userpass") != "userpass"]
    ctx.expect(used and not weak,
               f"every staff auth has a password of {minimum}+ characters (userpass)",
               ("weak or missing: " + ", ".join(weak)) if weak else
               f"{len(used)} auths in {path}: auth_type userpass, "
               f"password set ({minimum}+ characters)")


def parse_auths(text):
    """{section: {option: value}} of the auth sections of pjsip_auth.conf."""
    sections, current = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("password"):
            line = line.split(";", 1)[0].strip()
        match = re.match(r"^\[([^\]]+)\]", line)
        if match:
            current = sections.setdefault(match.group(1), {})
        elif current is not None and "=" in line:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return {name: values for name, values in sections.items() if values.get("type") == "auth"}


# --- PBX-NET-01 ----------------------------------------------------------------
@control("PBX-NET-01")
def pbx_sip_and_media_to_phones_and_carrier(ctx):
    tls_port = int(ctx.params.get("tls_port", 5061))
    udp_port = int(ctx.params.get("udp_port", 5060))
    first, last = int(ctx.params.get("rtp_first", 10000)), int(ctx.params.get("rtp_last", 20000))
    ami_port = int(ctx.params.get("ami_port", 5038))
    ruleset = ctx.run("nft", "list", "ruleset", evidence=False)
    if ruleset.rc != 0:
        raise CheckError(f"nft list ruleset failed: {ruleset.stderr.strip()[:300]}")
    text = ruleset.stdout
    ctx.run("nft", "list", "chain", "inet", "teletreball", "pbx_input")
    policy = re.search(r"chain input \{\s*type filter hook input priority \S+; policy (\w+);", text)
    ctx.expect(policy is not None and policy.group(1) == "drop",
               "the firewall's input policy drops what is not accepted",
               f"chain input policy {policy.group(1) if policy else '(none)'}")
    rules = accept_rules(text, "tcp", tls_port)
    ctx.expect(rules and all("ip saddr @pbx_phone_sources" in rule for rule in rules),
               f"SIP over TLS (tcp {tls_port}) accepted from the phones' set only",
               "; ".join(rules) or f"no rule accepts tcp {tls_port}")
    media = [rule for port in (first, last) for rule in accept_rules(text, "udp", port)]
    media = list(dict.fromkeys(media))
    ctx.expect(all(re.search(r"ip saddr @pbx_(phone|trunk)_sources\b", rule) for rule in media),
               f"media (udp {first}-{last}) accepted from the phones and the carrier only",
               "; ".join(media) or "no rule accepts the media ports")
    networks = list(ctx.params.get("phone_networks") or [])
    phones = parse_nft_set(text, "pbx_phone_sources") or []
    outside = []
    for element in phones:
        try:
            net = as_network(element.split("-")[0])
            if not any(net.subnet_of(as_network(n)) for n in networks):
                outside.append(element)
        except (ValueError, TypeError):
            outside.append(element)
    ctx.expect(not outside, "the phones' set holds VPN devices and listed sources only",
               (f"outside {' '.join(networks)}: {', '.join(outside)}" if outside else
                f"set pbx_phone_sources: {len(phones)} elements in {' '.join(networks)}"))
    sockets = ctx.listening()
    tls = [f"{s['address']}:{s['port']}" for s in sockets
           if s["proto"] == "tcp" and s["port"] == tls_port]
    ctx.expect(bool(tls), f"SIP over TLS listens on tcp {tls_port}",
               f"tcp {tls_port}: {', '.join(tls) or 'nothing listens'}")
    trunk = bool(ctx.params.get("trunk_sources"))
    plain = [f"{s['address']}:{s['port']}" for s in sockets
             if s["proto"] == "udp" and s["port"] == udp_port]
    ctx.expect(bool(plain) == trunk,
               f"plain SIP (udp {udp_port}) listens " + ("for the trunk" if trunk else "nowhere"),
               f"udp {udp_port}: {', '.join(plain) or 'nothing listens'}")
    ami = [f"{s['address']}:{s['port']}" for s in sockets
           if s["proto"] == "tcp" and s["port"] == ami_port]
    ctx.expect(all(a.rsplit(":", 1)[0] in ("127.0.0.1", "::1") for a in ami),
               f"AMI (tcp {ami_port}) on the loopback only",
               f"tcp {ami_port}: {', '.join(ami) or 'nothing listens'}")


# --- PBX-BAN-01 ----------------------------------------------------------------
@control("PBX-BAN-01")
def pbx_failed_logins_banned(ctx):
    ok, line = unit_active(ctx, "fail2ban.service")
    ctx.expect(ok, "fail2ban runs", line)
    status = ctx.run("fail2ban-client", "status", "asterisk")
    ctx.expect(status.rc == 0 and "Status for the jail: asterisk" in status.stdout,
               "the jail asterisk is active",
               (status.stdout.strip().splitlines() or [status.stderr.strip()[:200]])[0]
               if status.rc == 0 else f"rc {status.rc}: {status.stderr.strip()[:200]}")
    files = re.search(r"File list:\s*(.*)", status.stdout)
    ctx.expect(files is not None and SECURITY_LOG in files.group(1).split(),
               f"the jail reads Asterisk's security log {SECURITY_LOG}",
               f"File list: {files.group(1).strip() if files else '(none)'}")
    for key, param, default in (("maxretry", "fail2ban_max_retry", 5),
                                ("findtime", "fail2ban_find_time", 600),
                                ("bantime", "fail2ban_ban_time", 3600)):
        wanted = str(ctx.params.get(param, default))
        got = ctx.run("fail2ban-client", "get", "asterisk", key)
        value = got.stdout.strip() if got.rc == 0 else f"(rc {got.rc})"
        ctx.expect(value == wanted, f"jail {key} {wanted}", f"{key} {value}")
    actions = ctx.run("fail2ban-client", "get", "asterisk", "actions")
    lines = actions.stdout.strip().splitlines() if actions.rc == 0 else []
    names = lines[-1] if lines else ""
    ctx.expect("nftables-allports" in names, "a ban blocks every port (nftables-allports)",
               f"actions {names or '(none)'}")
    channels = _cli(ctx, "logger show channels")
    line = next((line.strip() for line in channels.splitlines()
                 if line.strip().startswith(SECURITY_LOG)), "")
    ctx.expect("SECURITY" in line and "Enabled" in line,
               f"Asterisk logs security events to {SECURITY_LOG}",
               re.sub(r"\s+", " ", line) or f"no logger channel {SECURITY_LOG}")


# --- PBX-DIR-01 ----------------------------------------------------------------
@control("PBX-DIR-01")
def pbx_directory_cannot_change_sections(ctx):
    people = _people(ctx)
    endpoints = _endpoints(ctx)
    staff = _staff(endpoints)
    wanted = sorted(p["username"] for p in people)
    doubled = [n for n, e in endpoints.items() if e.get("count", 1) > 1]
    ctx.expect(sorted(staff) == wanted and not doubled,
               "one staff endpoint per present person with a phone, no other",
               _diff_line("endpoints", sorted(staff), wanted) + (
                   f"; twice: {', '.join(doubled)}" if doubled else ""))
    details = _endpoint_details(ctx, [p["username"] for p in people if p["username"] in staff])
    wrong = []
    for person in people:
        detail = details.get(person["username"])
        if detail is None:
            continue
        callerid = detail.get("callerid", "")
        context = detail.get("context", "")
        if not _callerid_ok(callerid, person["name"], str(person["extension"])) \
                or not context.startswith("from-staff-"):
            wrong.append(f"{person['username']}: callerid {callerid}, context {context}")
    ctx.expect(not wrong, "each endpoint has the person's name and extension as written, "
               "and a staff context",
               "; ".join(wrong) or f"{len(details)} endpoints: callerid \"<name>\" <extension>, "
               "context from-staff-<level>")
    boxes = _mailboxes(ctx)
    oac = str(ctx.params.get("oac_mailbox", "900"))
    expected = sorted([str(p["extension"]) for p in people] + [oac])
    ctx.expect(sorted(boxes) == expected,
               "one mailbox per present person with a phone and the OAC's, no other",
               _diff_line("mailboxes", sorted(boxes), expected))


def _mailboxes(ctx):
    text = _cli(ctx, "voicemail show users for staff")
    return re.findall(r"^staff\s+(\d+)\s", text, re.MULTILINE)


def _diff_line(what, found, wanted):
    extra = [x for x in found if x not in wanted]
    missing = [x for x in wanted if x not in found]
    if not extra and not missing and len(found) == len(wanted):
        return f"{len(found)} {what}: {', '.join(found[:12])}{' ...' if len(found) > 12 else ''}"
    parts = []
    if extra:
        parts.append("not wanted: " + ", ".join(extra))
    if missing:
        parts.append("missing: " + ", ".join(missing))
    if len(found) != len(set(found)):
        parts.append("some twice")
    return f"{what}: " + "; ".join(parts)


# --- PBX-REV-01 ----------------------------------------------------------------
@control("PBX-REV-01")
def pbx_offboarded_removed(ctx):
    people = _people(ctx)
    staff = sorted(_staff(_endpoints(ctx)))
    wanted = sorted(p["username"] for p in people)
    gone = [name for name in staff if name not in wanted]
    ctx.expect(not gone, "no endpoint of a person who is not present with a phone",
               ("endpoints of: " + ", ".join(gone)) if gone else
               f"{len(staff)} endpoints, all of present people")
    # Without its address of record a phone has nothing to register to (a contact
    # Asterisk stored earlier stays listed until it expires, but serves nothing).
    aors = re.findall(r"^\s*Aor:\s+([^<\s]\S*)\s+\d+\s*$", _cli(ctx, "pjsip show aors"),
                      re.MULTILINE)
    stale = sorted(a for a in aors if a not in wanted and a != "carrier")
    ctx.expect(not stale, "no address of record (registration) of anybody else",
               ("addresses of record of: " + ", ".join(stale)) if stale else
               f"{len(aors)} addresses of record, the present people's and the trunk's")
    listing = ctx.run("find", APPLIED_DIR, "-maxdepth", "1", "-type", "f", "-printf", "%f\n")
    dests = sorted(urllib.parse.unquote(name) for name in listing.stdout.split())
    mine = [d for d in dests if d.startswith(("/etc/asterisk/", FAIL2BAN_JAIL))]
    ctx.expect(listing.rc == 0 and bool(mine),
               "the role recorded the files Asterisk and fail2ban were loaded with",
               f"{len(mine)} stamps in {APPLIED_DIR}" if mine else f"no stamp in {APPLIED_DIR}")
    pending = []
    for dest in mine:
        stamp_text = ctx.read(f"{APPLIED_DIR}/{urllib.parse.quote(dest, safe='')}", evidence=False)
        try:
            stamp = json.loads(stamp_text or "")
        except ValueError:
            stamp = {}
        summed = ctx.run("sha256sum", "--", dest, evidence=False)
        current = summed.stdout.split()[0] if summed.rc == 0 and summed.stdout.split() else None
        if current != stamp.get("sha256"):
            pending.append(f"{dest} (waits for {', '.join(stamp.get('notify', [])) or '?'})")
    ctx.expect(not pending, "every written file was applied (no reload pending from a stopped run)",
               ("changed since applied: " + "; ".join(pending)) if pending else
               f"{len(mine)} files as last applied (sha256 = stamp)")


# --- PBX-AMI-01 ----------------------------------------------------------------
@control("PBX-AMI-01")
def pbx_ami_loopback_only(ctx):
    port = int(ctx.params.get("ami_port", 5038))
    user = ctx.params.get("ami_username", "teletreball")
    settings = _cli(ctx, "manager show settings")
    values = {}
    for line in settings.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            values[key.strip()] = value.strip()
    bind = values.get("TCP Bindaddress", "")
    ctx.expect(bind == f"127.0.0.1:{port}", f"AMI binds to 127.0.0.1:{port}",
               f"TCP Bindaddress {bind}")
    ctx.expect(values.get("Web Manager (AMI/HTTP)") == "No" and values.get("TLS Enable") == "No",
               "no AMI over HTTP or TLS",
               f"Web Manager (AMI/HTTP) {values.get('Web Manager (AMI/HTTP)')}, "
               f"TLS Enable {values.get('TLS Enable')}")
    sockets = [f"{s['proto']} {s['address']}:{s['port']}" for s in ctx.listening()
               if s["port"] == port]
    loopback = all(s.split()[1].rsplit(":", 1)[0] in ("127.0.0.1", "::1") for s in sockets)
    ctx.expect(sockets and loopback,
               f"port {port} listens on the loopback only",
               ", ".join(sockets) or f"nothing listens on {port}")
    users = re.findall(r"^\s*(\S+)\s*$", _cli(ctx, "manager show users").split("--------", 1)[-1],
                       re.MULTILINE)
    users = [u for u in users if not u.startswith("-")]
    ctx.expect(users == [user], f"one AMI user, {user}", "users: " + (", ".join(users) or "none"))
    detail = _cli(ctx, f"manager show user {user}")
    acl = re.findall(r"^\s*\d+:\s+(deny|allow)\s+-\s+(\S+)", detail, re.MULTILINE)
    allowed = [net for rule, net in acl if rule == "allow"]
    ctx.expect(("deny", "0.0.0.0/0.0.0.0") in acl and allowed == ["127.0.0.1/255.255.255.255"],
               f"{user} may log in from the loopback only",
               "ACL " + "; ".join(f"{rule} {net}" for rule, net in acl) if acl else "no ACL")
    path = "/etc/asterisk/manager.conf"
    _expect_asterisk_readable(ctx, path)
    secret = ""
    section = None
    for raw in (ctx.read(path, evidence=False) or "").splitlines():
        line = raw.strip()
        match = re.match(r"^\[([^\]]+)\]", line)
        if match:
            section = match.group(1)
        elif section == user and re.match(r"^secret\s*=", line):
            secret = line.split("=", 1)[1].strip()
    ctx.expect(len(secret) >= 32, f"{user}'s secret has 32+ characters",
               f"secret of {user} in {path}: " + ("32+ characters" if len(secret) >= 32
                                                  else "shorter than 32 characters or none"))


# --- PBX-VM-01 -----------------------------------------------------------------
@control("PBX-VM-01")
def pbx_voicemail_of_leavers_archived(ctx):
    people = _people(ctx)
    oac = str(ctx.params.get("oac_mailbox", "900"))
    boxes = sorted(_mailboxes(ctx))
    expected = sorted([str(p["extension"]) for p in people] + [oac])
    ctx.expect(boxes == expected, "mailboxes of the present people with a phone and the OAC only",
               _diff_line("mailboxes", boxes, expected))
    text = ctx.read(HOLDERS_FILE)
    try:
        holders = json.loads(text or "").get("holders", {})
    except (ValueError, AttributeError):
        holders = None
    wanted = {str(p["extension"]): p.get("identity") for p in people}
    differ = []
    if isinstance(holders, dict):
        for ext in sorted(set(holders) | set(wanted)):
            if ext == oac:
                continue
            if holders.get(ext) != wanted.get(ext):
                differ.append(ext)
    ctx.expect(isinstance(holders, dict) and not differ,
               "each mailbox is recorded as its present holder's (by identity)",
               (f"{HOLDERS_FILE}: differs for {', '.join(differ)}" if differ else
                f"{HOLDERS_FILE}: {len(wanted)} holders as in the directory")
               if isinstance(holders, dict) else f"{HOLDERS_FILE} missing or not a record")
    info = ctx.stat(HOLDERS_FILE)
    ctx.expect(info is not None and info["mode"] == "0600" and info["user"] == "root",
               f"{HOLDERS_FILE} is 0600 root",
               f"{info['mode']} {info['user']}:{info['group']}" if info else "missing")
    listing = ctx.run("find", VOICEMAIL_DIR, "-mindepth", "1", "-maxdepth", "1", "-printf", "%f\n")
    folders = sorted(listing.stdout.split()) if listing.rc == 0 else []
    stray = [f for f in folders if f not in expected]
    ctx.expect(not stray, "no mailbox folder of anybody who left",
               (f"{VOICEMAIL_DIR}: {', '.join(stray)}" if stray else
                f"{VOICEMAIL_DIR}: {', '.join(folders) or 'no folder yet'}"))
    archive_dir = ctx.params.get("voicemail_archive_dir", "/var/backups/teletreball/voicemail")
    expect_private_archives(ctx, archive_dir)
