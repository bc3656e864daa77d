# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live checks of the chat server (CONF-*): see module_utils/teletreball_audit.py.

Prosody is asked through ``prosodyctl shell`` with read-only commands only
(``config:get`` of settings that hold no secret, ``module:list``, ``host:list``,
``user:list``, ``muc:list``, ``muc:affiliations``, ``c2s:show`` and a Lua
expression that reads the rooms' settings and whether accounts are enabled);
Janus through ``teletreball-janus-check --live`` (its ``info`` request). The
files that hold secrets (prosody.cfg.lua, turnserver.conf, Janus's files) are
read without evidence and only the lines stated are quoted, never a secret.

Parameters read from ``ctx.params`` (roles/conference/tasks/audit.yml passes them):
  domain, muc_host, web_name, ca_file, http_port, c2s_port, tls_profile
  chat_people       usernames of the present people granted `chat`
  rooms             [{name, state, affiliations: {jid: member|admin}}]
  archive_dir
  public_login, guests, guest_host, login_max_failures, login_failure_window
  chat_networks     CIDR the login networks and the XMPP firewall set may hold
  http_redirect     nginx may listen on 80 too (a redirect)
  converse_version, converse_sha512
  manage_turn, turn_port, turn_tls_port, turn_denied_peers, turn_allowed_peers,
  turn_credentials_ttl
  manage_video, video_rooms, janus_ws_port, video_invitations, video_invitation_max_hours
"""

from __future__ import annotations

import ipaddress
import re

from ansible.module_utils.teletreball_audit import CheckError, control
from ansible.module_utils.teletreball_audit_parsers import (
    accept_rules,
    as_network,
    expect_private_archives,
    expect_runs_as,
    handshake_line,
    mode_line,
    parse_nft_set,
    process_users,
    unit_active,
)

PROSODY_CONFIG = "/etc/prosody/prosody.cfg.lua"
TURN_CONFIG = "/etc/turnserver.conf"
JANUS_CORE = "/etc/janus/janus.jcfg"
JANUS_VIDEOROOM = "/etc/janus/janus.plugin.videoroom.jcfg"
JANUS_WEBSOCKETS = "/etc/janus/janus.transport.websockets.jcfg"
JANUS_DROPIN = "/etc/systemd/system/janus.service.d/teletreball.conf"
JANUS_CHECKER = "/usr/local/sbin/teletreball-janus-check"
CONVERSE_DIR = "/var/lib/teletreball/converse"
NGINX_SITE = "/etc/nginx/sites-available/teletreball-conference"
WEB_ROOT = "/var/www/teletreball-chat"
REGISTRATION_MODULES = ("register", "register_ibr", "register_limits", "invites_register",
                        "user_account_management", "anonymous", "auth_anonymous")

# An HTTPS GET through the host's own nginx: the status line and the headers of
# the answer, the certificate verified with the council's CA for the web name.
HTTPS_HEADERS = """\
import http.client, ssl, sys
name, ca, path = sys.argv[1], sys.argv[2], sys.argv[3]
context = ssl.create_default_context(cafile=ca)
class Connection(http.client.HTTPSConnection):
    def connect(self):
        import socket
        raw = socket.create_connection(("127.0.0.1", 443), timeout=10)
        self.sock = context.wrap_socket(raw, server_hostname=name)
connection = Connection(name, 443, context=context, timeout=10)
connection.request("GET", path)
answer = connection.getresponse()
print("HTTP", answer.status, connection.sock.version())
for key, value in answer.getheaders():
    print(f"{key}: {value}")
"""


# --- Prosody -------------------------------------------------------------------
def _shell(ctx, command, evidence=True):
    """The output of a read-only ``prosodyctl shell`` command."""
    result = ctx.run("prosodyctl", "shell", command, evidence=evidence)
    if result.rc != 0:
        raise CheckError(f"prosodyctl shell {command!r} failed (exit {result.rc}): "
                         f"{(result.stderr or result.stdout).strip()[:300]}")
    return result.stdout


def lua_value(text):
    """The value of a ``config:get`` answer ("OK: ..."): True/False/None, a number,
    a string, or a list of the strings of a Lua table."""
    body = text.strip()
    if body.startswith("OK:"):
        body = body[3:].strip()
    if body in ("true", "false"):
        return body == "true"
    if body == "nil":
        return None
    if body.startswith("{"):
        return re.findall(r'"((?:[^"\\]|\\.)*)"', body)
    if body.startswith('"') and body.endswith('"'):
        return body[1:-1]
    try:
        return int(body)
    except ValueError:
        return body


def _get(ctx, host, key):
    return lua_value(_shell(ctx, f"config:get({_lua(host)}, {_lua(key)})"))


def _lua(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_list(text):
    """The item lines of a prosodyctl shell listing (no header, no "OK:" line)."""
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.startswith(("OK:", " "))
            and not line.strip().endswith(":")]


def _modules(ctx, host):
    out = _shell(ctx, f"module:list({_lua(host)})")
    return [line.strip() for line in out.splitlines() if line.startswith((" ", "\t"))]


def _expect_module(ctx, host, module, requirement):
    """State that Prosody loads ``module`` on ``host``."""
    loaded = module in _modules(ctx, host)
    ctx.expect(loaded, requirement, f"{host}: {module} " + ("loaded" if loaded else "not loaded"))


def _hosts(ctx):
    """{host: kind} of ``host:list()`` (kind: "" for a VirtualHost)."""
    hosts = {}
    for line in _shell(ctx, "host:list()").splitlines():
        if line.startswith("OK:") or not line.strip():
            continue
        name, _, kind = line.strip().partition(" ")
        hosts[name] = kind.strip("()")
    return hosts


def _accounts(ctx, host):
    """{username: enabled} of every account of ``host`` (a read-only Lua expression)."""
    expression = (
        ">local um = require'core.usermanager'; local t = {}; "
        f"for u in um.users({_lua(host)}) do "
        f"t[#t+1] = u..'='..tostring(um.user_is_enabled(u, {_lua(host)})) end; "
        "table.sort(t); return table.concat(t, ' ')")
    out = _shell(ctx, expression)
    match = re.search(r"Result:\s*(.*)", out)
    accounts = {}
    for item in (match.group(1).split() if match else []):
        name, _, enabled = item.rpartition("=")
        accounts[name] = enabled == "true"
    if match is None:
        raise CheckError(f"the accounts of {host} could not be read: {out.strip()[:300]}")
    return accounts


def _rooms(ctx, muc_host):
    """{room jid: {members_only, persistent, hidden, public, archiving}} (Lua, read-only)."""
    expression = (
        f">local m = prosody.hosts[{_lua(muc_host)}].modules.muc; local t = {{}}; "
        "for r in m.all_rooms() do t[#t+1] = r.jid"
        "..' members_only='..tostring(r:get_members_only())"
        "..' persistent='..tostring(r:get_persistent())..' hidden='..tostring(r:get_hidden())"
        "..' public='..tostring(r:get_public())..' archiving='..tostring(r._data.archiving == true)"
        " end; table.sort(t); return table.concat(t, '; ')")
    out = _shell(ctx, expression)
    match = re.search(r"Result:\s*(.*)", out)
    if match is None:
        raise CheckError(f"the rooms of {muc_host} could not be read: {out.strip()[:300]}")
    rooms = {}
    for item in match.group(1).split(";"):
        words = item.split()
        if not words:
            continue
        rooms[words[0]] = dict(word.split("=", 1) for word in words[1:] if "=" in word)
    return rooms


def _affiliations(ctx, room_jid):
    out = _shell(ctx, f"muc:affiliations({_lua(room_jid)})")
    found = {}
    for line in out.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) >= 2 and cells[0] not in ("Affiliation", "") and "@" in cells[1]:
            found[cells[1]] = cells[0]
    return found


# --- helpers -----------------------------------------------------------------------
def _handshake(ctx, port, *extra, name=None):
    argv = ["timeout", "10", "openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-brief",
            *extra]
    if name:
        argv += ["-servername", name, "-verify_hostname", name, "-verify_return_error",
                 "-CAfile", ctx.params.get("ca_file", "/etc/teletreball/pki/ca.crt")]
    result = ctx.run(*argv)
    return result, handshake_line(result)


def _verified(result):
    return result.rc == 0 and "Verification: OK" in result.stderr + result.stdout


def _outside(elements, networks):
    nets = []
    for network in networks:
        try:
            nets.append(as_network(network))
        except ValueError:
            continue
    outside = []
    for element in elements:
        try:
            net = as_network(str(element).split("-")[0])
            if not any(net.version == n.version and net.subnet_of(n) for n in nets):
                outside.append(str(element))
        except ValueError:
            outside.append(str(element))
    return outside


def _ruleset(ctx):
    result = ctx.run("nft", "list", "ruleset", evidence=False)
    if result.rc != 0:
        raise CheckError(f"nft list ruleset failed: {result.stderr.strip()[:300]}")
    return result.stdout


def _sockets(ctx, process=None, port=None):
    return [s for s in ctx.listening()
            if (process is None or s["process"] == process) and (port is None or s["port"] == port)]


def _loopback(address):
    return address in ("127.0.0.1", "::1")


def conf_lines(text, key):
    """The values of ``key = value`` / ``key=value`` / bare ``key`` lines (coturn's format)."""
    values = []
    for raw in (text or "").splitlines():
        line = raw.strip()
        if line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if name.strip() == key:
            values.append(value.strip().strip('"') if sep else "")
    return values


def jcfg_value(text, section, key):
    """A setting of a Janus (libconfig) file: the raw value, quotes removed, or None."""
    match = re.search(r"^\s*" + re.escape(section) + r"\s*:\s*\{(.*?)^\s*\}", text or "",
                      re.DOTALL | re.MULTILINE)
    if match is None:
        return None
    found = re.search(r"^\s*" + re.escape(key) + r"\s*=\s*(.+?)\s*$", match.group(1), re.MULTILINE)
    if found is None:
        return None
    return found.group(1).strip().strip('"')


def jcfg_sections(text):
    return re.findall(r"^([A-Za-z0-9_.-]+)\s*:\s*\{", text or "", re.MULTILINE)


def lua_setting(text, key):
    """The value of a top-level ``key = "value"`` line of prosody.cfg.lua, or None."""
    match = re.search(r"^\s*" + re.escape(key) + r'\s*=\s*"((?:[^"\\]|\\.)*)"', text or "",
                      re.MULTILINE)
    return match.group(1) if match else None


# --- CONF-TLS-01 ---------------------------------------------------------------
@control("CONF-TLS-01")
def conf_client_tls(ctx):
    domain = ctx.params.get("domain", "teletreball.test")
    ok, line = unit_active(ctx, "prosody.service")
    ctx.expect(ok, "Prosody runs", line)
    checked = ctx.run("prosodyctl", "check", "config")
    ctx.expect(checked.rc == 0, "prosodyctl check config passes",
               (checked.stdout.strip().splitlines() or ["(no output)"])[-1])
    certs = ctx.run("prosodyctl", "check", "certs")
    ctx.expect(certs.rc == 0 and "All checks passed" in certs.stdout,
               "prosodyctl check certs passes",
               (certs.stdout.strip().splitlines() or [certs.stderr.strip()[:200]])[-1])
    required = _get(ctx, domain, "c2s_require_encryption")
    ctx.expect(required is True, "encryption required on every client connection",
               f"c2s_require_encryption {required}")
    wanted = ctx.params.get("tls_profile", "intermediate")
    profile = _get(ctx, domain, "tls_profile")
    ctx.expect(profile == wanted and profile in ("intermediate", "modern"),
               f"TLS profile {wanted} (TLS 1.2+)", f"tls_profile {profile}")
    s2s = {host: [m for m in _modules(ctx, host) if m.startswith("s2s")] for host in _hosts(ctx)}
    loaded = [f"{host}: {', '.join(mods)}" for host, mods in s2s.items() if mods]
    ctx.expect(not loaded, "federation (s2s) is not loaded",
               "; ".join(loaded) or f"no s2s module on {', '.join(s2s)}")
    port = int(ctx.params.get("c2s_port", 5222))
    good, line = _handshake(ctx, port, "-starttls", "xmpp", "-xmpphost", domain, "-tls1_2",
                            name=domain)
    ctx.expect(_verified(good), f"STARTTLS with TLS 1.2 verifies the certificate for {domain}",
               line)
    old, line = _handshake(ctx, port, "-starttls", "xmpp", "-xmpphost", domain, "-tls1_1",
                           "-cipher", "DEFAULT:@SECLEVEL=0")
    ctx.expect(old.rc != 0, "TLS 1.1 is refused on the client port", line)
    c2s = sorted({s["port"] for s in _sockets(ctx, port=5269)})
    ctx.expect(not c2s, "nothing listens on the server-to-server port 5269",
               "5269 listening" if c2s else "5269 closed")


# --- CONF-ACC-01 ---------------------------------------------------------------
@control("CONF-ACC-01")
def conf_accounts_from_directory(ctx):
    domain = ctx.params.get("domain", "teletreball.test")
    wanted = sorted(ctx.params.get("chat_people") or [])
    accounts = _accounts(ctx, domain)
    enabled = sorted(name for name, on in accounts.items() if on)
    extra = [name for name in enabled if name not in wanted]
    missing = [name for name in wanted if name not in enabled]
    ctx.expect(not extra and not missing,
               "the enabled chat accounts are the present people granted chat",
               (f"not in the directory: {', '.join(extra) or '-'}; missing: "
                f"{', '.join(missing) or '-'}") if extra or missing else
               f"{len(enabled)} enabled accounts on {domain}")
    registration = _get(ctx, domain, "allow_registration")
    ctx.expect(registration is not True, "in-band registration is off",
               f"allow_registration {registration}")
    hosts = _hosts(ctx)
    found = []
    anonymous = []
    guests = bool(ctx.params.get("guests", False))
    guest_host = ctx.params.get("guest_host", "")
    for host, kind in hosts.items():
        modules = _modules(ctx, host)
        found += [f"{host}: {m}" for m in modules if m in REGISTRATION_MODULES
                  and not (m in ("anonymous", "auth_anonymous") and guests and host == guest_host)]
        if not kind:
            method = _get(ctx, host, "authentication")
            if method == "anonymous" and not (guests and host == guest_host):
                anonymous.append(host)
    ctx.expect(not found, "no registration or password-change module, no anonymous login module",
               "; ".join(found) or "none of " + ", ".join(REGISTRATION_MODULES) + " loaded")
    ctx.expect(not anonymous, "no anonymous host" + (" but the guests'" if guests else ""),
               ("authentication anonymous on " + ", ".join(anonymous)) if anonymous else
               "hosts: " + ", ".join(f"{h}{' (' + k + ')' if k else ''}" for h, k in hosts.items()))
    method = _get(ctx, domain, "authentication")
    ctx.expect(method == "internal_hashed", "passwords stored as SCRAM hashes",
               f"authentication {method}")


# --- CONF-MUC-01 ---------------------------------------------------------------
@control("CONF-MUC-01")
def conf_rooms_members_only(ctx):
    muc = ctx.params.get("muc_host", "rooms.teletreball.test")
    restricted = _get(ctx, muc, "restrict_room_creation")
    ctx.expect(restricted is True or restricted == "local",
               "only the role creates rooms", f"restrict_room_creation {restricted}")
    rooms = _rooms(ctx, muc)
    wanted = {f"{r['name']}@{muc}": r for r in ctx.params.get("rooms") or []
              if (r.get("state") or "present") == "present"}
    extra = sorted(set(rooms) - set(wanted))
    missing = sorted(set(wanted) - set(rooms))
    ctx.expect(not extra and not missing, "the rooms are those of conference_rooms",
               (f"not wanted: {', '.join(extra) or '-'}; missing: {', '.join(missing) or '-'}")
               if extra or missing else f"{len(rooms)} rooms: {', '.join(sorted(rooms))}")
    wrong = []
    for jid, settings in sorted(rooms.items()):
        want = {"members_only": "true", "persistent": "true", "hidden": "true",
                "public": "false", "archiving": "true"}
        bad = [f"{key}={settings.get(key)}" for key, value in want.items()
               if settings.get(key) != value]
        if bad:
            wrong.append(f"{jid}: {' '.join(bad)}")
    ctx.expect(not wrong, "every room is members-only, persistent, hidden and archived",
               "; ".join(wrong) or f"{len(rooms)} rooms: members_only persistent hidden archiving")
    differ = []
    for jid, room in sorted(wanted.items()):
        if jid not in rooms:
            continue
        found = {j: a for j, a in _affiliations(ctx, jid).items() if a in ("member", "admin")}
        want = dict(room.get("affiliations") or {})
        if found != want:
            extra_people = sorted(set(found) - set(want))
            missing_people = sorted(set(want) - set(found))
            changed = sorted(j for j in set(found) & set(want) if found[j] != want[j])
            differ.append(f"{jid}: extra {', '.join(extra_people) or '-'}, missing "
                          f"{', '.join(missing_people) or '-'}, other affiliation "
                          f"{', '.join(changed) or '-'}")
    ctx.expect(not differ, "each room's members and admins come from the directory",
               "; ".join(differ) or f"{len(wanted)} rooms: affiliations as in the directory")


# --- CONF-REV-01 ---------------------------------------------------------------
@control("CONF-REV-01")
def conf_absent_people_lose_chat(ctx):
    domain = ctx.params.get("domain", "teletreball.test")
    wanted = set(ctx.params.get("chat_people") or [])
    accounts = _accounts(ctx, domain)
    still = sorted(name for name, on in accounts.items() if on and name not in wanted)
    disabled = sorted(name for name, on in accounts.items() if not on)
    ctx.expect(not still, "the account of everybody no longer present is disabled",
               ("enabled: " + ", ".join(still)) if still else
               f"disabled (in retention): {', '.join(disabled) or 'none'}")
    sessions = _shell(ctx, "c2s:show()")
    jids = re.findall(r"\|\s*([^\s|@]+)@" + re.escape(domain), sessions)
    open_ = sorted({name for name in jids if name not in wanted})
    ctx.expect(not open_, "nobody who is not present has an open session",
               ("sessions of: " + ", ".join(open_)) if open_ else f"{len(jids)} sessions, "
               "all of present people")
    archive_dir = ctx.params.get("archive_dir", "/var/backups/teletreball/chat")
    expect_private_archives(ctx, archive_dir)


# --- CONF-NET-01 ---------------------------------------------------------------
@control("CONF-NET-01")
def conf_prosody_http_loopback(ctx):
    port = int(ctx.params.get("http_port", 5280))
    interfaces = _get(ctx, "*", "http_interfaces")
    ctx.expect(isinstance(interfaces, list) and interfaces
               and all(_loopback(i) for i in interfaces),
               "Prosody's web server is configured on the loopback only",
               f"http_interfaces {interfaces}")
    https = _get(ctx, "*", "https_ports")
    ctx.expect(not https, "Prosody serves no HTTPS port of its own", f"https_ports {https}")
    sockets = [s for s in ctx.listening() if s["port"] in (port, 5281)]
    shown = ", ".join(f"{s['proto']} {s['address']}:{s['port']} {s['process']}" for s in sockets)
    ctx.expect(bool(sockets) and all(_loopback(s["address"]) for s in sockets),
               f"port {port} listens on 127.0.0.1 and ::1 only",
               shown or f"nothing listens on {port}")


# --- CONF-WEB-01 ---------------------------------------------------------------
def _headers(ctx, path):
    name = ctx.params.get("web_name", ctx.params.get("domain", "localhost"))
    ca_file = ctx.params.get("ca_file", "/etc/teletreball/pki/ca.crt")
    result = ctx.run("python3", "-c", HTTPS_HEADERS, name, ca_file, path)
    headers = {}
    status = ""
    for line in result.stdout.splitlines():
        if line.startswith("HTTP "):
            status = line
        key, sep, value = line.partition(": ")
        if sep:
            headers.setdefault(key.lower(), value)
    return result, status, headers


def _csp_ok(csp):
    directives = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    scripts = directives.get("script-src", directives.get("default-src"))
    return bool(scripts) and scripts == ["'self'"] and directives.get("object-src") == ["'none'"]


def _security_headers(ctx, headers, label):
    hsts = headers.get("strict-transport-security", "")
    age = re.search(r"max-age=(\d+)", hsts)
    ctx.expect(age is not None and int(age.group(1)) >= 31536000,
               f"{label}: HSTS of a year or more", f"Strict-Transport-Security: {hsts or '(none)'}")
    csp = headers.get("content-security-policy", "")
    ctx.expect(_csp_ok(csp), f"{label}: a CSP that allows scripts from the site only",
               f"Content-Security-Policy: {csp or '(none)'}")
    others = {k: headers.get(k) for k in ("x-content-type-options", "x-frame-options",
                                         "referrer-policy")}
    ctx.expect(others["x-content-type-options"] == "nosniff"
               and others["x-frame-options"] in ("DENY", "SAMEORIGIN")
               and bool(others["referrer-policy"]),
               f"{label}: nosniff, frame and referrer headers",
               ", ".join(f"{k}: {v}" for k, v in others.items()))


@control("CONF-WEB-01")
def conf_web_https_only(ctx):
    ok, line = unit_active(ctx, "nginx.service")
    ctx.expect(ok, "nginx runs", line)
    ports = sorted({s["port"] for s in _sockets(ctx, process="nginx")})
    allowed = {443} | ({80} if ctx.params.get("http_redirect") else set())
    ctx.expect(443 in ports and set(ports) <= allowed,
               "nginx listens on 443" + (" (and 80 for the redirect)" if 80 in allowed
                                         else " only"),
               "nginx listens on: " + ", ".join(map(str, ports)))
    name = ctx.params.get("web_name", ctx.params.get("domain", "localhost"))
    good, line = _handshake(ctx, 443, "-tls1_2", name=name)
    ctx.expect(_verified(good), f"TLS 1.2 verifies the certificate for {name} with the CA", line)
    old, line = _handshake(ctx, 443, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0")
    ctx.expect(old.rc != 0, "TLS 1.1 is refused", line)
    result, status, headers = _headers(ctx, "/")
    ctx.expect(result.rc == 0 and status.startswith("HTTP 200"),
               "the web chat answers over HTTPS", status or result.stderr.strip()[-200:])
    _security_headers(ctx, headers, "the web chat")
    result, status, headers = _headers(ctx, "/no-such-page")
    ctx.expect(result.rc == 0 and "strict-transport-security" in headers
               and "content-security-policy" in headers,
               "an error answer carries the headers too",
               f"{status}: HSTS {'yes' if 'strict-transport-security' in headers else 'no'}, "
               f"CSP {'yes' if 'content-security-policy' in headers else 'no'}")


# --- CONF-SUP-01 ---------------------------------------------------------------
@control("CONF-SUP-01")
def conf_converse_pinned(ctx):
    version = str(ctx.params.get("converse_version", ""))
    wanted = str(ctx.params.get("converse_sha512", "")).lower()
    tarball = f"{CONVERSE_DIR}/converse.js-{version}.tgz"
    summed = ctx.run("sha512sum", "--", tarball)
    found = summed.stdout.split()[0] if summed.rc == 0 and summed.stdout.split() else ""
    ctx.expect(bool(wanted) and found == wanted,
               f"the release {version} has the pinned sha512",
               f"sha512 {found or '(no tarball)'} of {tarball}")
    link = ctx.run("readlink", "-f", "--", f"{WEB_ROOT}/dist").stdout.strip()
    expected = f"{CONVERSE_DIR}/{version}/package/dist"
    ctx.expect(link == expected, f"the site serves release {version}",
               f"{WEB_ROOT}/dist -> {link or '(missing)'}")
    listing = ctx.run("find", f"{CONVERSE_DIR}/{version}", "-mindepth", "1", "-maxdepth", "2",
                      "-printf", "%P\n")
    entries = sorted(listing.stdout.split())
    ctx.expect(listing.rc == 0 and entries == ["package", "package/dist"],
               "only dist/ is unpacked", ", ".join(entries) or "(nothing unpacked)")


# --- CONF-TURN-01 --------------------------------------------------------------
def _turn_config(ctx):
    return ctx.read(TURN_CONFIG, evidence=False)


@control("CONF-TURN-01")
def conf_turn_relay(ctx):
    ok, line = unit_active(ctx, "coturn.service")
    ctx.expect(ok, "coturn runs", line)
    users = process_users(ctx, "turnserver")
    ctx.expect(users and "root" not in users, "coturn runs unprivileged",
               f"turnserver processes of: {' '.join(users) or 'none'}")
    info = ctx.stat(TURN_CONFIG)
    ctx.expect(info is not None and info["mode"] in ("0640", "0600") and info["user"] == "root",
               f"{TURN_CONFIG} is not readable by others", mode_line(TURN_CONFIG, info))
    text = _turn_config(ctx)
    if text is None:
        raise CheckError(f"{TURN_CONFIG} cannot be read")
    secret = (conf_lines(text, "static-auth-secret") or [""])[-1]
    ctx.expect(conf_lines(text, "use-auth-secret") == [""] and len(secret) >= 32
               and not conf_lines(text, "user") and not conf_lines(text, "lt-cred-mech"),
               "short-lived credentials from a shared secret only (use-auth-secret)",
               "use-auth-secret, static-auth-secret=(" + ("32+ characters" if len(secret) >= 32
                                                          else "missing or short") + ")"
               + ("; static users or lt-cred-mech too" if conf_lines(text, "user")
                  or conf_lines(text, "lt-cred-mech") else ""))
    prosody_secret = lua_setting(ctx.read(PROSODY_CONFIG, evidence=False),
                                 "external_service_secret")
    ctx.expect(bool(secret) and prosody_secret == secret,
               "Prosody hands out credentials made with coturn's secret",
               "external_service_secret of prosody.cfg.lua = static-auth-secret of "
               + TURN_CONFIG + (" (equal, not shown)" if prosody_secret == secret
                                else " (they differ, not shown)"))
    flags = {flag: bool(conf_lines(text, flag)) for flag in ("no-tlsv1", "no-tlsv1_1", "no-cli")}
    ctx.expect(all(flags.values()), "TLS 1.0 and 1.1 off, no telnet console",
               ", ".join(f"{k} {'set' if v else 'missing'}" for k, v in flags.items()))
    cli = _sockets(ctx, port=5766)
    ctx.expect(not cli, "the console port 5766 is closed",
               "5766 listening" if cli else "5766 closed")
    denied = conf_lines(text, "denied-peer-ip")
    missing = [net for net in ctx.params.get("turn_denied_peers") or []
               if not _range_covered(net, denied)]
    ctx.expect(bool(denied) and not missing, "every private and reserved range is a denied peer",
               (f"not denied: {', '.join(missing)}" if missing else
                f"{len(denied)} denied-peer-ip lines cover conference_turn_denied_peers"))
    allowed = conf_lines(text, "allowed-peer-ip")
    janus = ctx.read(JANUS_CORE, evidence=False) if ctx.params.get("manage_video") else None
    media = [a.strip() for a in (jcfg_value(janus, "nat", "ice_enforce_list") or "").split(",")
             if a.strip()]
    want = list(ctx.params.get("turn_allowed_peers") or []) + media
    extra = [a for a in allowed if not any(_range_covered(a, [w]) for w in want)]
    ctx.expect(not extra, "the only allowed peers are the council's media hosts",
               ("allowed-peer-ip " + ", ".join(allowed) +
                (f"; not a media host: {', '.join(extra)}" if extra else ""))
               if allowed else "no allowed-peer-ip")


def _bounds(text):
    """(first, last) addresses of a CIDR, an address or coturn's "a-b" range."""
    text = str(text).strip()
    if "-" in text and "/" not in text:
        first, _, last = text.partition("-")
        return ipaddress.ip_address(first.strip()), ipaddress.ip_address(last.strip())
    net = as_network(text)
    return net[0], net[-1]


def _range_covered(wanted, lines):
    try:
        first, last = _bounds(wanted)
    except ValueError:
        return False
    for line in lines:
        try:
            low, high = _bounds(line)
        except ValueError:
            continue
        if low.version == first.version and low <= first and last <= high:
            return True
    return False


# --- CONF-VID-01 ---------------------------------------------------------------
@control("CONF-VID-01")
def conf_video_rooms_tokens(ctx):
    domain = ctx.params.get("domain", "teletreball.test")
    _expect_module(ctx, domain, "teletreball_video",
                   "Prosody signs the video tokens (teletreball_video)")
    wanted = sorted(ctx.params.get("video_rooms") or [])
    configured = _get(ctx, domain, "teletreball_video_rooms")
    ctx.expect(sorted(configured or []) == wanted, "Prosody signs for the video rooms of the "
               "present chat rooms", f"teletreball_video_rooms {configured}")
    core = ctx.read(JANUS_CORE, evidence=False)
    auth = jcfg_value(core, "general", "token_auth")
    secret = jcfg_value(core, "general", "token_auth_secret") or ""
    ctx.expect(auth == "true" and len(secret) >= 32, "Janus requires signed tokens",
               f"{JANUS_CORE}: token_auth = {auth}, token_auth_secret "
               + ("set (32+ characters)" if len(secret) >= 32 else "missing or short"))
    videoroom = ctx.read(JANUS_VIDEOROOM, evidence=False)
    rooms = [s for s in jcfg_sections(videoroom) if s != "general"]
    ctx.expect(sorted(rooms) == [f"room-{n}" for n in wanted],
               "one Janus room per video room", f"{JANUS_VIDEOROOM}: {', '.join(rooms) or 'none'}")
    weak = []
    for room in rooms:
        settings = (jcfg_value(videoroom, room, "is_private"),
                    jcfg_value(videoroom, room, "signed_tokens"),
                    len(jcfg_value(videoroom, room, "secret") or ""))
        if settings[:2] != ("true", "true") or settings[2] < 16:
            weak.append(f"{room}: is_private {settings[0]}, signed_tokens {settings[1]}, "
                        f"secret {'set' if settings[2] else 'missing'}")
    admin_key = jcfg_value(videoroom, "general", "admin_key") or ""
    ctx.expect(not weak and len(admin_key) >= 32,
               "every room private with signed tokens and a secret; rooms created by the role only",
               "; ".join(weak) or f"{len(rooms)} rooms: is_private true, signed_tokens true, "
               "secret set; admin_key set")
    if ctx.params.get("video_invitations", True):
        maximum = int(ctx.params.get("video_invitation_max_hours", 24)) * 3600
        value = _get(ctx, domain, "teletreball_video_invite_max")
        ctx.expect(isinstance(value, int) and 0 < value <= maximum,
                   f"guest links last {maximum // 3600} hours at most",
                   f"teletreball_video_invite_max {value}")
    live = ctx.run(JANUS_CHECKER, "--live")
    ctx.expect(live.rc == 0, "the running Janus requires tokens (info: auth_token)",
               live.stderr.strip()[:300] or "teletreball-janus-check --live: no problem")


# --- CONF-VID-02 ---------------------------------------------------------------
@control("CONF-VID-02")
def conf_video_signalling_tls(ctx):
    port = int(ctx.params.get("janus_ws_port", 8188))
    janus = [s for s in _sockets(ctx, port=port) if s["proto"] == "tcp"]
    shown = ", ".join(f"{s['address']}:{s['port']}" for s in janus)
    ctx.expect(bool(janus) and all(_loopback(s["address"]) for s in janus),
               f"Janus's WebSocket (tcp {port}) listens on the loopback only",
               f"tcp {port}: {shown or 'nothing listens'}")
    ws = ctx.read(JANUS_WEBSOCKETS, evidence=False)
    values = {key: jcfg_value(ws, section, key) for section, key in
              (("general", "ws_ip"), ("general", "wss"), ("admin", "admin_ws"),
               ("admin", "admin_wss"))}
    ctx.expect(values["ws_ip"] == "127.0.0.1" and values["wss"] in (None, "false")
               and values["admin_ws"] in (None, "false") and values["admin_wss"] in (None, "false"),
               "no TLS listener of Janus's own and no admin WebSocket (nginx terminates TLS)",
               ", ".join(f"{k} = {v}" for k, v in values.items()))
    result, status, headers = _headers(ctx, "/video/")
    ctx.expect(result.rc == 0 and status.startswith(("HTTP 200", "HTTP 301", "HTTP 302")),
               "the video page is served over HTTPS", status or result.stderr.strip()[-200:])
    _security_headers(ctx, headers, "the video page")
    permissions = headers.get("permissions-policy", "")
    ctx.expect(all(f"{f}=(self)" in permissions for f in ("camera", "microphone",
                                                          "display-capture")),
               "the video page may use the camera, microphone and screen capture",
               f"Permissions-Policy: {permissions or '(none)'}")
    result, status, headers = _headers(ctx, "/")
    permissions = headers.get("permissions-policy", "")
    ctx.expect(all(f"{f}=()" in permissions for f in ("camera", "microphone", "display-capture")),
               "the other pages may not", f"Permissions-Policy of /: {permissions or '(none)'}")


# --- CONF-VID-03 ---------------------------------------------------------------
@control("CONF-VID-03")
def conf_video_turn(ctx):
    domain = ctx.params.get("domain", "teletreball.test")
    _expect_module(ctx, domain, "external_services", "Prosody hands out TURN credentials")
    out = _shell(ctx, f"config:get({_lua(domain)}, \"external_services\")")
    turns = re.findall(r"\{([^{}]*type = \"turns?\"[^{}]*)\}", out)
    ttl = int(ctx.params.get("turn_credentials_ttl", 86400))
    bad = [t for t in turns if "secret = true" not in t
           or not re.search(r"ttl = (\d+)", t) or int(re.search(r"ttl = (\d+)", t).group(1)) > ttl]
    ctx.expect(bool(turns) and not bad,
               f"TURN entries with short-lived credentials (secret, ttl <= {ttl} s)",
               f"{len(turns)} turn/turns entries: secret = true, ttl <= {ttl}" if turns and not bad
               else "external_services: " + (" ".join(" ".join(b.split()) for b in bad)[:300]
                                             or "no TURN entry"))
    core = ctx.read(JANUS_CORE, evidence=False)
    media = [a.strip() for a in (jcfg_value(core, "nat", "ice_enforce_list") or "").split(",")
             if a.strip()]
    allowed = conf_lines(_turn_config(ctx), "allowed-peer-ip")
    missing = [a for a in media if not _range_covered(a, allowed)]
    ctx.expect(bool(media) and not missing, "coturn may relay to the addresses Janus offers",
               f"Janus ice_enforce_list {', '.join(media) or '(none)'}; "
               f"allowed-peer-ip {', '.join(allowed) or '(none)'}")


# --- CONF-VID-04 ---------------------------------------------------------------
@control("CONF-VID-04")
def conf_janus_sandboxed(ctx):
    expect_runs_as(ctx, "janus.service", "Janus", "janus", "janus")
    shown = ctx.run("systemctl", "show", "janus.service", "--property",
                    "User,NoNewPrivileges,CapabilityBoundingSet,AmbientCapabilities,ProtectSystem")
    props = dict(line.split("=", 1) for line in shown.stdout.splitlines() if "=" in line)
    ctx.expect(props.get("User") == "janus" and props.get("NoNewPrivileges") == "yes"
               and props.get("CapabilityBoundingSet", "x") == ""
               and props.get("AmbientCapabilities", "x") == ""
               and props.get("ProtectSystem") == "strict",
               "no capability, no new privileges, a read-only system",
               ", ".join(f"{k}={v}" for k, v in sorted(props.items())))
    dropin = ctx.read(JANUS_DROPIN) or ""
    checks = re.findall(r"^ExecStartPre=\S*teletreball-janus-check --kind (\w+) ", dropin,
                        re.MULTILINE)
    ctx.expect(sorted(checks) == ["core", "videoroom", "websockets"],
               "every file is checked before each start",
               f"ExecStartPre teletreball-janus-check: {', '.join(checks) or 'none'}")
    core = ctx.read(JANUS_CORE, evidence=False)
    general = {key: jcfg_value(core, "general", key) for key in ("api_secret", "admin_secret")}
    ctx.expect(all(v is None for v in general.values()), "no API secret and no admin API",
               f"{JANUS_CORE}: " + ", ".join(f"{k} {'set' if v is not None else 'absent'}"
                                            for k, v in general.items()))
    disabled = {section: jcfg_value(core, section, "disable") or ""
                for section in ("plugins", "transports", "loggers", "events")}
    off_http = "libjanus_http.so" in disabled["transports"]
    ctx.expect(all(disabled.values()) and off_http,
               "the other plugins, transports, loggers and event handlers are disabled by name",
               "; ".join(f"{s}.disable {len(v.split(',')) if v else 0} modules"
                         for s, v in disabled.items())
               + ("" if off_http else "; libjanus_http.so not disabled"))
    secret_files = [(path, ctx.stat(path)) for path in (JANUS_CORE, JANUS_VIDEOROOM)]
    loose = [mode_line(p, i) for p, i in secret_files
             if i is None or i["mode"] not in ("0640", "0600") or i["user"] != "root"]
    ctx.expect(not loose, "Janus's secret files are not readable by others",
               "; ".join(loose) or "; ".join(mode_line(p, i) for p, i in secret_files))
    live = ctx.run(JANUS_CHECKER, "--live")
    ctx.expect(live.rc == 0, "the running Janus loaded the VideoRoom plugin and the WebSocket "
               "transport only, no event handler",
               live.stderr.strip()[:300] or "teletreball-janus-check --live: no problem")


# --- CONF-LOGIN-01 -------------------------------------------------------------
@control("CONF-LOGIN-01")
def conf_login_through_the_vpn(ctx):
    domain = ctx.params.get("domain", "teletreball.test")
    public = bool(ctx.params.get("public_login", False))
    networks = list(ctx.params.get("chat_networks") or [])
    modules = _modules(ctx, domain)
    ctx.expect("teletreball_login" in modules, "Prosody throttles and logs logins "
               "(teletreball_login)", f"{domain}: teletreball_login "
               + ("loaded" if "teletreball_login" in modules else "not loaded"))
    for key, param, default in (("teletreball_login_max_failures", "login_max_failures", 10),
                                ("teletreball_login_failure_window", "login_failure_window", 300)):
        value = _get(ctx, domain, key)
        wanted = int(ctx.params.get(param, default))
        ctx.expect(value == wanted, f"{key} {wanted}", f"{key} {value}")
    ruleset = _ruleset(ctx)
    port = int(ctx.params.get("c2s_port", 5222))
    rules = accept_rules(ruleset, "tcp", port)
    if not public:
        logins = _get(ctx, domain, "teletreball_login_networks") or []
        outside = _outside([n for n in logins if n != "127.0.0.1/32"], networks)
        ctx.expect(bool(logins) and not outside,
                   "SASL logins only from the VPN devices granted chat (and the listed sources)",
                   (f"outside {' '.join(networks)}: {', '.join(outside)}" if outside else
                    f"teletreball_login_networks: {len(logins)} sources in "
                    f"{' '.join(networks)} and 127.0.0.1"))
        ctx.expect(all("ip saddr @conference_chat_sources" in r for r in rules),
                   f"the firewall opens XMPP (tcp {port}) to the chat's sources only",
                   "; ".join(rules) or f"no rule accepts tcp {port}")
        elements = parse_nft_set(ruleset, "conference_chat_sources") or []
        outside = _outside(elements, networks)
        ctx.expect(not outside, "the chat's firewall set holds VPN devices and listed sources",
                   (f"outside {' '.join(networks)}: {', '.join(outside)}" if outside else
                    f"set conference_chat_sources: {len(elements)} elements"))
        for path in ("/xmpp-websocket", "/http-bind"):
            result, status, _ = _headers(ctx, path)
            # From the host itself (127.0.0.1, allowed): the location answers, not 403.
            ctx.expect(result.rc == 0 and not status.startswith("HTTP 403"),
                       f"nginx passes {path} from an allowed address",
                       status or result.stderr.strip()[-200:])
        site_text = ctx.read(NGINX_SITE, evidence=False)
        blocks = {}
        for path in ("/xmpp-websocket", "/http-bind"):
            match = re.search(r"location = " + re.escape(path) + r" \{(.*?)\n\s*\}",
                              site_text or "", re.DOTALL)
            body = match.group(1) if match else ""
            allow = re.findall(r"^\s*allow (\S+);", body, re.MULTILINE)
            denies = bool(re.search(r"^\s*deny all;", body, re.MULTILINE))
            blocks[path] = (allow, denies)
        bad = [f"{p}: allow {len(a)} sources, deny all {'yes' if d else 'no'}"
               for p, (a, d) in blocks.items()
               if not d or not a or _outside([x for x in a if x != "127.0.0.1/32"], networks)]
        ctx.expect(site_text is not None and not bad,
                   "nginx answers 403 to the web logins of any other address",
                   "; ".join(bad) or "; ".join(f"location = {p}: allow {len(a)} VPN sources, "
                                               "deny all" for p, (a, _) in blocks.items()))
    else:
        ctx.expect(True, "the login is public (conference_public_login)",
                   f"tcp {port}: " + ("; ".join(rules) or "closed"))
    guests = bool(ctx.params.get("guests", False))
    hosts = _hosts(ctx)
    others = [h for h, kind in hosts.items() if not kind and h != domain]
    anonymous = [h for h in others if _get(ctx, h, "authentication") == "anonymous"]
    ctx.expect(guests or not anonymous, "no anonymous host without conference_guests",
               ("anonymous: " + ", ".join(anonymous)) if anonymous else
               "virtual hosts: " + ", ".join([domain] + others))
    turn_elsewhere = [h for h in others if "external_services" in _modules(ctx, h)]
    ctx.expect(not turn_elsewhere, "TURN credentials on the staff's host only",
               ("external_services on " + ", ".join(turn_elsewhere)) if turn_elsewhere else
               f"external_services on {domain} only")
