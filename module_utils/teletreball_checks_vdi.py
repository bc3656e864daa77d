# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live checks of the remote desktops (VDI-*, TT-ID-01): see module_utils/teletreball_audit.py.

The readers of the firewall (``nft -j``) and of ini files it shares with
teletreball_checks_vpn.py are in module_utils/teletreball_audit_parsers.py.

Parameters read from ``ctx.params`` (roles/vdi/tasks/audit.yml passes them; the
people come from the staff directory as the role derives it):
  vdi_port                  the RDP port (3389)
  vdi_tls_min_version       TLSv1.2 or TLSv1.3
  vdi_tls_ciphers           the OpenSSL cipher list of TLS 1.2
  vdi_address               the name people connect to (in the certificate)
  vdi_ca_file               the internal CA's certificate on the host
  vdi_rdp_sources           the addresses (or CIDRs) allowed to reach RDP
  vdi_login_group           the group xrdp-sesman lets in
  vdi_users                 usernames of the present people whose desktop is here
  vdi_absent_people         usernames the directory marks absent
  vdi_totp_window           pam_oath's window
  vdi_idle_time_limit, vdi_disconnected_time_limit, vdi_kill_disconnected,
  vdi_max_sessions          the session policy
  vdi_archive_dir           the folder of the archived homes
TT-ID-01 (roles/teletreball/tasks/audit.yml):
  tt_desktop_identities     username -> identity digest of this desktop host's people
  tt_chat_identities        chat address -> identity digest of this chat server's people
"""

from __future__ import annotations

import json

from ansible.module_utils.teletreball_audit import CheckError, control
from ansible.module_utils.teletreball_audit_parsers import (
    DIRECTORY_MISSING,
    addresses_difference,
    addresses_text,
    ini_value,
    is_false,
    is_true,
    match_of,
    matches,
    need,
    networks_of,
    parse_ini,
    port_covered,
    ports_of,
    process_users,
    rule_text,
    ruleset,
    verdict,
)

XRDP_INI = "/etc/xrdp/xrdp.ini"
SESMAN_INI = "/etc/xrdp/sesman.ini"
PAM_SESMAN = "/etc/pam.d/xrdp-sesman"
OATH_FILE = "/etc/teletreball/vdi/users.oath"
TLS_DIR = "/etc/xrdp/tls"
ACCOUNTS_STATE = "/var/lib/teletreball/desktop-accounts.json"
CHAT_IDENTITIES = "/var/lib/teletreball/chat-identities.json"
LOCK_EXPIRY = "1"  # usermod --expiredate 1, as teletreball_desktop_accounts locks
OLD_PROTOCOLS = frozenset({"SSLv2", "SSLv3", "TLSv1", "TLSv1.0", "TLSv1.1"})
# --- accounts ----------------------------------------------------------------------


def group_members(ctx, group):
    """The members of a group (getent), or None when the group does not exist."""
    result = ctx.run("getent", "group", group)
    if result.rc != 0:
        return None
    fields = result.stdout.strip().split(":")
    return sorted(m for m in (fields[3].split(",") if len(fields) > 3 else []) if m)


def account_state(ctx, username):
    """{"exists", "locked", "expire", "uid"} of an account; its hash is never shown."""
    entry = ctx.run("getent", "passwd", username)
    if entry.rc != 0:
        return {"exists": False}
    fields = entry.stdout.strip().split(":")
    shadow = ctx.run("getent", "shadow", username, evidence=False)
    parts = shadow.stdout.strip().split(":") if shadow.rc == 0 else []
    password = parts[1] if len(parts) > 1 else ""
    return {"exists": True, "uid": fields[2] if len(fields) > 2 else "?",
            "locked": password.startswith("!") or password.startswith("*"),
            "expire": parts[7] if len(parts) > 7 else ""}


def describe_account(state):
    if not state["exists"]:
        return "no account"
    return (f"password {'locked' if state['locked'] else 'usable'}, "
            f"expiry day {state['expire'] or 'none'}")


def read_json(ctx, path):
    text = ctx.read(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CheckError(f"{path} is not JSON: {exc}") from exc


# --- the checks ----------------------------------------------------------------------


def _xrdp_ini(ctx):
    text = ctx.read(XRDP_INI)
    if text is None:
        raise CheckError(f"{XRDP_INI} is missing")
    return parse_ini(text)


def _sesman_ini(ctx):
    text = ctx.read(SESMAN_INI)
    if text is None:
        raise CheckError(f"{SESMAN_INI} is missing")
    return parse_ini(text)


def _sesman_runs(ctx):
    state = ctx.run("systemctl", "is-active", "xrdp-sesman.service").stdout.strip()
    ctx.expect(state == "active", "xrdp-sesman runs", f"xrdp-sesman.service {state}")


def _mode(info):
    return f"{info['mode']} {info['user']}:{info['group']}" if info else "missing"


@control("VDI-TLS-01")
def xrdp_tls_only(ctx):
    port = int(ctx.params.get("vdi_port", 3389))
    minimum = ctx.params.get("vdi_tls_min_version", "TLSv1.2")
    ciphers = ctx.params.get("vdi_tls_ciphers", "ECDHE+AESGCM:ECDHE+CHACHA20")
    address = ctx.params.get("vdi_address")
    ca_file = ctx.params.get("vdi_ca_file", "/etc/teletreball/pki/ca.crt")

    state = ctx.run("systemctl", "is-active", "xrdp.service").stdout.strip()
    ctx.expect(state == "active", "xrdp runs", f"xrdp.service {state}")
    owners = process_users(ctx, "xrdp")
    ctx.expect(owners == ["xrdp"], "xrdp runs as the unprivileged user xrdp",
               "xrdp processes of: " + (", ".join(owners) or "nobody"))
    unit = dict(line.partition("=")[::2] for line in ctx.run(
        "systemctl", "show", "xrdp.service", "-p", "User", "-p", "NoNewPrivileges",
        "-p", "ProtectSystem", "-p", "ProtectHome").stdout.splitlines() if "=" in line)
    ctx.expect(unit.get("User") == "xrdp" and unit.get("NoNewPrivileges") == "yes"
               and unit.get("ProtectSystem") in ("full", "strict")
               and unit.get("ProtectHome") in ("yes", "read-only", "tmpfs"),
               "xrdp's unit runs it as xrdp, confined by systemd",
               " ".join(f"{k}={v}" for k, v in sorted(unit.items())))

    ini = _xrdp_ini(ctx)
    layer = ini_value(ini, "Globals", "security_layer")
    ctx.expect(layer == "tls", "xrdp offers TLS only (security_layer=tls)",
               f"security_layer={layer}")
    protocols = [p.strip() for p in (ini_value(ini, "Globals", "ssl_protocols") or "").split(",")
                 if p.strip()]
    allowed = {"TLSv1.2", "TLSv1.3"} if minimum == "TLSv1.2" else {"TLSv1.3"}
    ctx.expect(bool(protocols) and set(protocols) <= allowed,
               f"xrdp offers only {' and '.join(sorted(allowed))}",
               "ssl_protocols=" + ", ".join(protocols))
    configured = ini_value(ini, "Globals", "tls_ciphers")
    ctx.expect(configured == ciphers, f"TLS 1.2 ciphers are {ciphers}",
               f"tls_ciphers={configured}")
    suites = ctx.run("openssl", "ciphers", "-v", "-s", "-tls1_2", configured or "DEFAULT")
    weak = [line.split()[0] for line in suites.stdout.splitlines()
            if line.split() and ("Kx=ECDH" not in line or "Mac=AEAD" not in line)]
    ctx.expect(suites.ok and bool(suites.stdout.strip()) and not weak,
               "every TLS 1.2 cipher is forward-secret (ECDHE) with AEAD",
               ("not: " + ", ".join(weak)) if weak else
               f"{len(suites.stdout.splitlines())} suites, all ECDHE and AEAD")

    certificate = ini_value(ini, "Globals", "certificate") or ""
    key_file = ini_value(ini, "Globals", "key_file") or ""
    ctx.expect(certificate == f"{TLS_DIR}/cert.pem" and key_file == f"{TLS_DIR}/key.pem",
               f"xrdp uses the PKI's certificate copied to {TLS_DIR}",
               f"certificate={certificate} key_file={key_file}")
    verified = ctx.run("openssl", "verify", "-CAfile", ca_file, "-untrusted", certificate,
                       certificate)
    ctx.expect(verified.ok, "the certificate is issued by the internal CA and valid",
               ((verified.stdout.strip() or verified.stderr.strip()).splitlines() or [""])[-1])
    names = ctx.run("openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", certificate)
    if address:
        ctx.expect(f"DNS:{address}" in names.stdout or f"IP Address:{address}" in names.stdout,
                   f"the certificate names {address}",
                   " ".join(names.stdout.split()[-3:]) or names.stderr.strip())
    cert_key = ctx.run("openssl", "x509", "-noout", "-pubkey", "-in", certificate)
    key_key = ctx.run("openssl", "pkey", "-pubout", "-in", key_file)
    ctx.expect(cert_key.ok and key_key.ok and cert_key.stdout == key_key.stdout,
               "the key is the certificate's key",
               "public keys of certificate and key " +
               ("match" if cert_key.ok and cert_key.stdout == key_key.stdout else "differ"))
    folder, key = ctx.stat(TLS_DIR), ctx.stat(key_file or f"{TLS_DIR}/key.pem")
    ctx.expect(bool(folder) and folder["mode"] == "0750" and folder["user"] == "root"
               and bool(key) and key["mode"] in ("0640", "0600") and key["user"] == "root",
               "the key is readable by root and the group xrdp only",
               f"{TLS_DIR} {_mode(folder)}, {key_file} {_mode(key)}")
    listening = [s for s in ctx.listening() if s["port"] == port and s["proto"] == "tcp"]
    ctx.expect(bool(listening), f"xrdp listens on tcp {port}",
               ", ".join(f"{s['address']}:{s['port']} {s['process']}".strip() for s in listening)
               or f"nothing on tcp {port}")


def _accepts_port(expr, port):
    """True when an accepting rule can let a new tcp connection to ``port`` in."""
    if verdict(expr) != "accept":
        return False
    for left, op, right in matches(expr):
        if left in ("iif", "iifname") and op == "==" and right == "lo":
            return False
        if left == "ct state":
            states = right if isinstance(right, list) else [right]
            if op in ("==", "in") and "new" not in states:
                return False
        if left.endswith(" type") or left in ("icmp type", "icmpv6 type"):
            return False
        if left in ("meta l4proto", "ip protocol", "ip6 nexthdr") and op in ("==", "in"):
            if "tcp" not in ports_of(right):
                return False
        if left.startswith("udp "):
            return False
        if (left.endswith(" dport") and op in ("==", "in")
                and not port_covered(port, ports_of(right))):
            return False
    return True


@control("VDI-NET-01")
def rdp_from_the_vpn_only(ctx):
    port = int(ctx.params.get("vdi_port", 3389))
    sources = need(ctx, "vdi_rdp_sources", "the addresses granted `desktop`")
    nft = ruleset(ctx)
    ctx.run("nft", "list", "chain", "inet", "teletreball", "vdi_input")
    base = nft.chains.get(("inet", "teletreball", "input"), {})
    ctx.expect(base.get("hook") == "input" and base.get("policy") == "drop",
               "the firewall drops inbound traffic not accepted",
               f"chain input hook {base.get('hook')} policy {base.get('policy')}")
    live = networks_of(nft.sets.get(("inet", "teletreball", "vdi_rdp_sources"), []))
    wanted = networks_of(list(sources))
    ctx.expect(live == wanted, "the set vdi_rdp_sources holds exactly the VPN devices granted "
               "desktop, the gateways and the extra sources",
               "vdi_rdp_sources: " + (addresses_text(live) if live == wanted
                                      else addresses_difference(live, wanted)))
    openings = [(chain, expr) for chain, expr in nft.reachable("inet", "teletreball", "input")
                if _accepts_port(expr, port)]
    ours = [(chain, expr) for chain, expr in openings
            if chain == "vdi_input" and match_of(expr, "ip saddr") == "@vdi_rdp_sources"]
    others = [f"{chain}: {rule_text(expr)}" for chain, expr in openings
              if (chain, expr) not in ours]
    ctx.expect(bool(ours) and not others,
               f"tcp {port} is accepted only from @vdi_rdp_sources",
               "; ".join(others) if others else
               ("vdi_input: " + rule_text(ours[0][1]) if ours else f"no rule accepts tcp {port}"))
    listening = [s for s in ctx.listening() if s["port"] == port and s["proto"] == "tcp"]
    ctx.expect(bool(listening), f"xrdp listens on tcp {port}",
               ", ".join(f"{s['address']}:{s['port']}" for s in listening) or "not listening")


@control("VDI-ACC-01")
def desktop_login_group_only(ctx):
    group = ctx.params.get("vdi_login_group", "remote-desktop")
    users = sorted(need(ctx, "vdi_users", "the people whose desktop is on this host"))
    _sesman_runs(ctx)
    ini = _sesman_ini(ctx)
    for key, wanted, test in (("AllowRootLogin", "false", is_false),
                              ("TerminalServerUsers", group, lambda v: v == group),
                              ("AlwaysGroupCheck", "true", is_true)):
        value = ini_value(ini, "Security", key)
        ctx.expect(value is not None and test(value), f"sesman {key}={wanted}", f"{key}={value}")
    members = group_members(ctx, group)
    ctx.expect(members is not None and members == users,
               f"the members of {group} are exactly the people assigned to this host",
               f"{group}: " + (", ".join(members) if members else "(none)" if members is not None
                               else "no such group") +
               ("" if members == users else f" (expected {', '.join(users) or 'nobody'})"))
    missing = [name for name in users if not account_state(ctx, name)["exists"]]
    ctx.expect(not missing, "each person assigned to this host has an account",
               ("no account: " + ", ".join(missing)) if missing else
               f"{len(users)} accounts: " + ", ".join(users))
    root = ctx.run("getent", "passwd", "0").stdout.split(":")[0] or "root"
    ctx.expect(root not in (members or []), "root is not in the login group",
               f"{group}: " + ", ".join(members or []))


def _oath_users(ctx):
    """The usernames of the second-factor file (its secrets never shown)."""
    text = ctx.read(OATH_FILE, evidence=False)
    if text is None:
        return None
    return {line.split()[1]: line.split()[0] for line in text.splitlines()
            if len(line.split()) >= 2 and not line.lstrip().startswith("#")}


def _pam_auth_lines(text):
    lines = []
    for raw in (text or "").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("@include"):
            name = line.split()[1] if len(line.split()) > 1 else ""
            if "auth" in name:  # common-account, -password, -session hold no auth line
                lines.append(("include", name, []))
        elif line.startswith("auth"):
            fields = line.split()
            if fields[1].startswith("["):  # [success=...] controls
                control_end = next(i for i, f in enumerate(fields) if f.endswith("]"))
                control_word = " ".join(fields[1:control_end + 1])
                rest = fields[control_end + 1:]
            else:
                control_word, rest = fields[1], fields[2:]
            lines.append((control_word, rest[0] if rest else "", rest[1:]))
    return lines


@control("VDI-MFA-01")
def desktop_password_and_code(ctx):
    users = ctx.params.get("vdi_users")
    window = ctx.params.get("vdi_totp_window")
    _sesman_runs(ctx)
    lines = _pam_auth_lines(ctx.read(PAM_SESMAN))
    modules = [module for _, module, _ in lines]
    oath = next((i for i, (_, module, _) in enumerate(lines) if module == "pam_oath.so"), None)
    unix = next((i for i, (_, module, _) in enumerate(lines) if module == "pam_unix.so"), None)
    if oath is None:
        ctx.expect(False, "xrdp-sesman's PAM stack asks for the TOTP code (pam_oath)",
                   f"{PAM_SESMAN}: auth modules " + (", ".join(modules) or "none"))
    else:
        control_word, _, args = lines[oath]
        options = dict(a.partition("=")[::2] for a in args)
        ctx.expect(control_word in ("requisite", "required")
                   and options.get("usersfile") == OATH_FILE and options.get("digits") == "6"
                   and (window is None or options.get("window") == str(window)),
                   "xrdp-sesman's PAM stack asks for the 6-digit TOTP code (pam_oath, required)",
                   f"auth {control_word} pam_oath.so {' '.join(args)}")
        early = [f"{c} {m}" for c, m, _ in lines[:oath] if m != "pam_env.so"]
        ctx.expect(not early, "nothing before pam_oath can let a login in",
                   ("before pam_oath: " + ", ".join(early)) if early else
                   "before pam_oath: pam_env only")
    ctx.expect(unix is not None and (oath is None or unix > oath)
               and "use_first_pass" in lines[unix][2] and lines[unix][0] == "required",
               "the password is then checked by pam_unix (use_first_pass)",
               f"auth {lines[unix][0]} pam_unix.so {' '.join(lines[unix][2])}"
               if unix is not None else "no pam_unix")
    sufficient = [f"{c} {m}" for c, m, _ in lines
                  if c == "sufficient" or c.startswith("[") or c == "include"]
    ctx.expect(not sufficient, "no other auth module may accept a login alone",
               ", ".join(sufficient) if sufficient else
               "auth: " + ", ".join(f"{c} {m}" for c, m, _ in lines))
    folder, secrets = ctx.stat(OATH_FILE.rsplit("/", 1)[0]), ctx.stat(OATH_FILE)
    ctx.expect(bool(folder) and folder["mode"] == "0700" and folder["user"] == "root"
               and bool(secrets) and secrets["mode"] == "0600" and secrets["user"] == "root",
               "the TOTP secrets are root's only (0600 in a 0700 folder)",
               f"{OATH_FILE} {_mode(secrets)}, folder {_mode(folder)}")
    if users is not None:
        entries = _oath_users(ctx) or {}
        missing = [u for u in sorted(users) if not entries.get(u, "").startswith("HOTP/T30")]
        ctx.expect(not missing, "each person assigned here has a TOTP secret (HOTP/T30)",
                   ("no TOTP entry: " + ", ".join(missing)) if missing else
                   "users.oath: " + ", ".join(f"{entries[u]} {u}" for u in sorted(users)))


@control("VDI-SES-01")
def desktop_sessions_limited(ctx):
    idle = int(ctx.params.get("vdi_idle_time_limit", 3600))
    disconnected = int(ctx.params.get("vdi_disconnected_time_limit", 1800))
    kill = ctx.params.get("vdi_kill_disconnected", True)
    sessions = int(ctx.params.get("vdi_max_sessions", 50))
    _sesman_runs(ctx)
    ini = _sesman_ini(ctx)

    def number(key):
        value = ini_value(ini, "Sessions", key)
        return int(value) if value is not None and value.isdigit() else None

    value = number("IdleTimeLimit")
    ctx.expect(value is not None and value > 0 and value == idle,
               f"an idle session is disconnected after {idle} s",
               f"IdleTimeLimit={ini_value(ini, 'Sessions', 'IdleTimeLimit')}")
    killed = ini_value(ini, "Sessions", "KillDisconnected")
    value = number("DisconnectedTimeLimit")
    ctx.expect(is_true(killed) and is_true(kill) and value is not None and value > 0
               and value == disconnected,
               f"a disconnected session is ended after {disconnected} s",
               f"KillDisconnected={killed} DisconnectedTimeLimit="
               f"{ini_value(ini, 'Sessions', 'DisconnectedTimeLimit')}")
    value = number("MaxSessions")
    ctx.expect(value is not None and value > 0 and value == sessions,
               f"at most {sessions} sessions",
               f"MaxSessions={ini_value(ini, 'Sessions', 'MaxSessions')}")


@control("VDI-DLP-01")
def desktop_data_stays(ctx):
    xrdp, sesman = _xrdp_ini(ctx), _sesman_ini(ctx)
    rdpdr = ini_value(xrdp, "Channels", "rdpdr")
    ctx.expect(rdpdr is not None and is_false(rdpdr),
               "the drive channel is off (rdpdr=false)", f"[Channels] rdpdr={rdpdr}")
    fuse = ini_value(sesman, "Chansrv", "EnableFuseMount")
    ctx.expect(fuse is not None and is_false(fuse), "no FUSE mount of the person's drives",
               f"[Chansrv] EnableFuseMount={fuse}")
    outbound = ini_value(sesman, "Security", "RestrictOutboundClipboard")
    ctx.expect(outbound == "all", "nothing is copied from the session to the person's computer",
               f"[Security] RestrictOutboundClipboard={outbound}")
    mounts = ctx.read("/proc/mounts", evidence=False) or ""
    drives = [line.split()[1] for line in mounts.splitlines()
              if "thinclient_drives" in line or "chansrv" in line]
    ctx.expect(not drives, "no session has the person's drives mounted",
               ("mounted: " + ", ".join(drives)) if drives else "no thinclient_drives mount")


@control("VDI-REV-01")
def desktop_revoked(ctx):
    group = ctx.params.get("vdi_login_group", "remote-desktop")
    users = set(need(ctx, "vdi_users", "the people whose desktop is on this host"))
    absent = set(ctx.params.get("vdi_absent_people") or []) - users
    archive_dir = ctx.params.get("vdi_archive_dir", "/var/backups/teletreball/desktops")
    record = read_json(ctx, ACCOUNTS_STATE) or {}
    accounts = record.get("accounts", {}) if isinstance(record, dict) else {}
    # Everybody who has or had a desktop here and may not use it now.
    gone = sorted((absent | set(accounts)) - users)
    open_accounts, kept = [], []
    members = group_members(ctx, group) or []
    for name in gone:
        state = account_state(ctx, name)
        if not state["exists"]:
            kept.append(f"{name}: no account")
            continue
        processes = ctx.run("pgrep", "-u", name).stdout.split()
        closed = (state["locked"] and state["expire"] == LOCK_EXPIRY
                  and name not in members and not processes)
        line = (f"{name}: {describe_account(state)}, "
                f"{'in' if name in members else 'not in'} {group}, {len(processes)} processes")
        (kept if closed else open_accounts).append(line)
    ctx.expect(not open_accounts,
               "everybody absent or no longer assigned here is locked, expired, out of the "
               "login group, with no process",
               "; ".join(open_accounts) if open_accounts else
               ("; ".join(kept) if kept else "nobody absent or moved has had an account here"))
    extra = sorted(set(members) - users)
    ctx.expect(not extra, f"nobody else is in {group}",
               (f"{group} also has: " + ", ".join(extra)) if extra else
               f"{group}: " + (", ".join(members) or "(none)"))
    entries = _oath_users(ctx)
    leftover = sorted(set(entries or {}) - users)
    ctx.expect(not leftover, "nobody else has a TOTP secret here",
               ("TOTP entries of: " + ", ".join(leftover)) if leftover else
               "users.oath: " + (", ".join(sorted(entries or {})) or "no entry"))
    folder = ctx.stat(archive_dir)
    if folder is not None:
        listing = ctx.run("find", archive_dir, "-mindepth", "1", "-maxdepth", "1",
                          "-printf", "%m %u %f\\n")
        loose = [line for line in listing.stdout.splitlines()
                 if line.split()[:2] != ["600", "root"]]
        count = len(listing.stdout.splitlines())
        ctx.expect(folder["mode"] == "0700" and folder["user"] == "root" and not loose,
                   "archived homes are root's only (0600 in a 0700 folder)",
                   f"{archive_dir} {_mode(folder)}" + ("; " + ", ".join(loose) if loose
                                                       else f", {count} archives 0600 root"))


@control("TT-ID-01")
def accounts_of_their_person(ctx):
    desktops = ctx.params.get("tt_desktop_identities")
    chats = ctx.params.get("tt_chat_identities")
    if desktops is None and chats is None:
        raise CheckError(DIRECTORY_MISSING.format("the identity of each person"))
    if desktops is not None:
        record = read_json(ctx, ACCOUNTS_STATE) or {}
        accounts = record.get("accounts", {}) if isinstance(record, dict) else {}
        wrong = []
        for name, identity in sorted(desktops.items()):
            entry = accounts.get(name) if isinstance(accounts.get(name), dict) else {}
            if entry.get("status") != "active" or entry.get("identity") != identity:
                wrong.append(f"{name}: {entry.get('status', 'not recorded')}, identity "
                             f"{entry.get('identity', 'none')} (expected {identity})")
        ctx.expect(not wrong, "each desktop account is recorded as its present person's",
                   "; ".join(wrong) if wrong else
                   f"{ACCOUNTS_STATE}: {len(desktops)} accounts active, each with its "
                   "person's identity")
        missing = [name for name in sorted(desktops) if not account_state(ctx, name)["exists"]]
        ctx.expect(not missing, "each of them has its account",
                   ("no account: " + ", ".join(missing)) if missing else
                   "accounts: " + (", ".join(sorted(desktops)) or "none"))
        info = ctx.stat(ACCOUNTS_STATE)
        ctx.expect(info is None or (info["mode"] == "0600" and info["user"] == "root"),
                   "the record of the desktop accounts is root's only",
                   f"{ACCOUNTS_STATE} {_mode(info)}")
    if chats is not None:
        record = read_json(ctx, CHAT_IDENTITIES)
        record = record if isinstance(record, dict) else {}
        wrong = [f"{jid}: {record.get(jid, 'not recorded')} (expected {identity})"
                 for jid, identity in sorted(chats.items()) if record.get(jid) != identity]
        ctx.expect(not wrong, "each chat account is recorded as its present person's",
                   "; ".join(wrong) if wrong else
                   f"{CHAT_IDENTITIES}: {len(chats)} accounts with their person's identity")
        info = ctx.stat(CHAT_IDENTITIES)
        ctx.expect(info is None or (info["mode"] == "0600" and info["user"] == "root"),
                   "the record of the chat accounts is root's only",
                   f"{CHAT_IDENTITIES} {_mode(info)}")
