# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live checks of the hardened baseline (BL-*): see module_utils/teletreball_audit.py.

Parameters read from ``ctx.params`` (roles/baseline/tasks/audit.yml passes them):
  ssh_allow_groups  the groups allowed to log in over SSH (the admins' group first)
  ssh_admin_user    a user name for sshd's effective settings (default: audit)
The other controls' parameters are listed above their checks below.
"""

from __future__ import annotations

import ipaddress
import json
import re

from ansible.module_utils.teletreball_audit import CheckError, control

MODERN_CIPHERS = frozenset({
    "chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
    "aes256-ctr", "aes192-ctr", "aes128-ctr",
})
MODERN_KEX = frozenset({
    "mlkem768x25519-sha256", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com",
    "curve25519-sha256", "curve25519-sha256@libssh.org",
})


def _sshd_running(ctx):
    ctx.expect(ctx.is_active("ssh.service"), "sshd runs", "ssh.service active")
    checked = ctx.run("/usr/sbin/sshd", "-t")
    ctx.expect(checked.rc == 0, "sshd's configuration is valid (sshd -t)",
               checked.stderr.strip() or "sshd -t: no error")


@control("BL-SSH-01")
def ssh_public_keys_only(ctx):
    _sshd_running(ctx)
    settings = ctx.sshd_effective(user=ctx.params.get("ssh_admin_user", "audit"))
    for key, wanted in (("authenticationmethods", "publickey"), ("pubkeyauthentication", "yes"),
                        ("passwordauthentication", "no"), ("kbdinteractiveauthentication", "no"),
                        ("permitemptypasswords", "no"), ("hostbasedauthentication", "no"),
                        ("gssapiauthentication", "no")):
        value = settings.get(key)
        ctx.expect(value == wanted, f"sshd {key} {wanted}", f"{key} {value}")


@control("BL-SSH-02")
def ssh_no_root_login(ctx):
    value = ctx.sshd_effective(user="root").get("permitrootlogin")
    ctx.expect(value == "no", "sshd PermitRootLogin no (for a root login)",
               f"permitrootlogin {value}")


@control("BL-SSH-03")
def ssh_few_attempts(ctx):
    settings = ctx.sshd_effective()
    tries = int(settings.get("maxauthtries", "0"))
    grace = int(settings.get("logingracetime", "0"))
    ctx.expect(1 <= tries <= 4, "MaxAuthTries between 1 and 4", f"maxauthtries {tries}")
    ctx.expect(1 <= grace <= 60, "LoginGraceTime between 1 and 60 s", f"logingracetime {grace}")
    startups = settings.get("maxstartups")
    ctx.expect(startups == "10:30:60", "MaxStartups 10:30:60", f"maxstartups {startups}")


@control("BL-SSH-04")
def ssh_idle_sessions_end(ctx):
    settings = ctx.sshd_effective()
    interval = int(settings.get("clientaliveinterval", "0"))
    count = int(settings.get("clientalivecountmax", "0"))
    ctx.expect(interval > 0 and count > 0 and interval * count <= 900,
               "idle sessions end within 15 minutes (ClientAliveInterval x CountMax <= 900 s)",
               f"clientaliveinterval {interval}, clientalivecountmax {count}")


@control("BL-SSH-05")
def ssh_modern_algorithms(ctx):
    settings = ctx.sshd_effective()
    ciphers = set(settings.get("ciphers", "").split(","))
    kex = set(settings.get("kexalgorithms", "").split(","))
    macs = [mac for mac in settings.get("macs", "").split(",") if mac]
    ctx.expect(ciphers <= MODERN_CIPHERS, "only modern ciphers",
               f"ciphers {settings.get('ciphers')}")
    ctx.expect(kex <= MODERN_KEX, "only modern key exchanges",
               f"kexalgorithms {settings.get('kexalgorithms')}")
    ctx.expect(bool(macs) and all(mac.endswith("-etm@openssh.com") for mac in macs),
               "only encrypt-then-MAC MACs", f"macs {settings.get('macs')}")


@control("BL-SSH-06")
def ssh_admin_group_only(ctx):
    groups = list(ctx.params.get("ssh_allow_groups") or ["teletreball-admins"])
    value = ctx.sshd_effective().get("allowgroups", "")
    ctx.expect(sorted(value.split()) == sorted(groups),
               f"only the groups {' '.join(groups)} may log in", f"allowgroups {value}")


# --- BL-FW-01..03: the live ruleset of table inet teletreball ------------------
#
# Only this table can let a packet past its input chain's drop policy (an
# accept in another table's base chain does not skip ours), so the checks read
# it alone: `nft -a list table` for the lines the auditor reads, `nft -j` to
# reason about them.
#
# Parameters: ssh_allowed_networks (BL-FW-02, required), ssh_port (default 22),
# firewall_openings (BL-FW-03: the inventory's baseline_firewall_openings).

NFT_TABLE = "teletreball"
NFT_CONFIG = "/etc/nftables.conf"
NFT_DROPIN_DIR = "/etc/nftables.d"
NFT_CHECKER = "/usr/local/sbin/teletreball-nft-check"
# Chains of /etc/nftables.conf whose rules are the baseline's own; every other
# chain of the table (services, forward_services and those drop-ins define)
# holds rules of the drop-ins.
NFT_MAIN_CHAINS = ("input", "openings", "forward", "output")
NFT_VERDICTS = ("accept", "drop", "reject", "return", "queue", "continue")
ICMP_ESSENTIAL = frozenset({"echo-request", "destination-unreachable", "time-exceeded",
                            "parameter-problem"})
ICMPV6_ESSENTIAL = frozenset({"destination-unreachable", "packet-too-big", "time-exceeded",
                              "parameter-problem", "nd-neighbor-solicit",
                              "nd-neighbor-advert"})
NOT_TCP = ("udp", "udplite", "sctp", "dccp", "icmp", "icmpv6", "igmp", "esp", "ah")


class _Rule:
    """One rule of the table: its chain, listing line and JSON expressions."""

    def __init__(self, chain, handle, expr, comment, text):
        self.chain = chain
        self.handle = handle
        self.expr = expr
        self.comment = comment
        self.text = text
        self.verdict = None
        self.target = None
        for item in expr:
            for key in NFT_VERDICTS:
                if key in item:
                    self.verdict = key
            for key in ("jump", "goto"):
                if key in item:
                    self.verdict = key
                    self.target = item[key].get("target")

    def matches(self):
        """(left, op, right) of each match; left is ("payload", proto, field),
        ("meta", key) or ("ct", key)."""
        found = []
        for item in self.expr:
            match = item.get("match")
            if not match:
                continue
            left = match.get("left") or {}
            if isinstance(left, dict) and "payload" in left:
                key = ("payload", left["payload"].get("protocol"), left["payload"].get("field"))
            elif isinstance(left, dict) and "meta" in left:
                key = ("meta", left["meta"].get("key"))
            elif isinstance(left, dict) and "ct" in left:
                key = ("ct", left["ct"].get("key"))
            else:
                key = ("other",)
            found.append((key, match.get("op"), match.get("right")))
        return found


class _Table:
    def __init__(self, objects, lines):
        self.chains = {}
        self.sets = {}
        self.rules = []
        for obj in objects:
            if "chain" in obj:
                self.chains[obj["chain"]["name"]] = obj["chain"]
            elif "set" in obj:
                self.sets[obj["set"]["name"]] = obj["set"]
            elif "rule" in obj:
                rule = obj["rule"]
                handle = rule.get("handle")
                text = lines.get((rule["chain"], handle), f"(rule {handle})")
                self.rules.append(_Rule(rule["chain"], handle, rule.get("expr", []),
                                        rule.get("comment"), text))

    def rules_of(self, chain):
        return [rule for rule in self.rules if rule.chain == chain]

    def reachable(self, start):
        """The chains a packet of base chain ``start`` may go through (jumps, gotos)."""
        seen, todo = [], [start]
        while todo:
            name = todo.pop(0)
            if name in seen or name not in self.chains:
                continue
            seen.append(name)
            todo.extend(rule.target for rule in self.rules_of(name) if rule.target)
        return seen

    def set_networks(self, name):
        return _networks(self.sets.get(name, {}).get("elem", []))


def _rule_lines(listing):
    """{(chain, handle): rule line} of ``nft -a list table`` (handle comment removed)."""
    lines, chain = {}, None
    for raw in listing.splitlines():
        line = raw.strip()
        opener = re.match(r"^(table|chain|set|map|flowtable)\s+(\S+)\s*\{", line)
        if opener:
            chain = opener.group(2) if opener.group(1) == "chain" else None
            continue
        handle = re.match(r"^(.*?)\s*# handle (\d+)$", line)
        if chain and handle and handle.group(1):
            lines[(chain, int(handle.group(2)))] = handle.group(1)
    return lines


def _nft_table(ctx):
    """The table inet teletreball as loaded, or None when it is not loaded."""
    listing = ctx.run("nft", "-a", "list", "table", "inet", NFT_TABLE)
    loaded = ctx.expect(listing.ok, f"table inet {NFT_TABLE} is loaded",
                        f"nft list table inet {NFT_TABLE}: "
                        + ("loaded" if listing.ok else listing.stderr.strip()[:200]))
    if not loaded:
        return None
    data = ctx.run("nft", "-j", "list", "table", "inet", NFT_TABLE, evidence=False)
    if not data.ok:
        raise CheckError(f"nft -j list table inet {NFT_TABLE}: {data.stderr.strip()[:300]}")
    return _Table(json.loads(data.stdout).get("nftables", []), _rule_lines(listing.stdout))


def _element_networks(value):
    """ipaddress networks of one set element or match value (JSON of nft -j)."""
    if isinstance(value, dict):
        if "elem" in value:
            return _element_networks(value["elem"].get("val"))
        if "prefix" in value:
            prefix = value["prefix"]
            return [ipaddress.ip_network(f"{prefix['addr']}/{prefix['len']}", strict=False)]
        if "range" in value:
            low, high = (ipaddress.ip_address(end) for end in value["range"])
            return list(ipaddress.summarize_address_range(low, high))
        if "set" in value:
            return _networks(value["set"])
        raise ValueError(f"not an address: {value}")
    if isinstance(value, list):
        return _networks(value)
    text = str(value)
    if "-" in text and "/" not in text:
        low, high = (ipaddress.ip_address(end.strip()) for end in text.split("-", 1))
        return list(ipaddress.summarize_address_range(low, high))
    return [ipaddress.ip_network(text, strict=False)]


def _networks(values):
    found = []
    for value in values or []:
        found.extend(_element_networks(value))
    return found


def _collapsed(networks):
    """Networks as sorted strings, adjacent and nested ones merged."""
    out = []
    for version in (4, 6):
        same = [net for net in networks if net.version == version]
        out.extend(str(net) for net in ipaddress.collapse_addresses(same))
    return out


def _within(networks, allowed):
    return [net for net in networks
            if not any(net.version == ok.version and net.subnet_of(ok) for ok in allowed)]


def _ports(value, table):
    """The set of port numbers of a match value, or None when it cannot tell."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return {value}
    if isinstance(value, str):
        if value.startswith("@"):
            return _ports(table.sets.get(value[1:], {}).get("elem", []), table)
        return {int(value)} if value.isdigit() else None
    if isinstance(value, dict):
        if "range" in value:
            low, high = value["range"]
            return set(range(int(low), int(high) + 1))
        if "set" in value:
            return _ports(value["set"], table)
        if "elem" in value:
            return _ports(value["elem"].get("val"), table)
        return None
    if isinstance(value, list):
        ports = set()
        for item in value:
            more = _ports(item, table)
            if more is None:
                return None
            ports |= more
        return ports
    return None


def _admits_new_tcp(rule, port, table):
    """Whether the accept ``rule`` may admit a new TCP connection to ``port``
    from another host (conservative: True when it cannot tell)."""
    for (kind, *key), op, right in rule.matches():
        positive = op in ("==", "in")
        if kind == "payload" and key[0] in NOT_TCP and positive:
            return False
        if kind == "payload" and key == ["tcp", "dport"]:
            ports = _ports(right, table)
            if ports is not None and positive and port not in ports:
                return False
            if ports is not None and op == "!=" and port in ports:
                return False
        if kind == "meta" and key[0] == "l4proto" and positive:
            values = right.get("set", [right]) if isinstance(right, dict) else right
            values = values if isinstance(values, list) else [values]
            if not {"tcp", "6"} & {str(value) for value in values}:
                return False
        if kind == "meta" and key[0] in ("iif", "iifname") and positive and right == "lo":
            return False
        if kind == "ct" and key[0] == "state" and positive:
            states = right if isinstance(right, list) else [right]
            if "new" not in states:
                return False
    return True


def _sources(rule, table):
    """The source networks a rule is limited to, or None when it takes any source."""
    for (kind, *key), op, right in rule.matches():
        if kind == "payload" and key[1:] == ["saddr"] and key[0] in ("ip", "ip6") \
                and op in ("==", "in"):
            if isinstance(right, str) and right.startswith("@"):
                return table.set_networks(right[1:])
            return _element_networks(right)
    return None


def _is_baseline_input_rule(rule, port):
    """The accept rules /etc/nftables.conf puts in chain input itself."""
    if rule.text in ('iif "lo" accept', "ct state established,related accept"):
        return True
    matches = rule.matches()
    if len(matches) == 1 and matches[0][0] in (("payload", "icmp", "type"),
                                               ("payload", "icmpv6", "type")):
        return True
    return rule.text in (
        f'tcp dport {port} ip saddr @ssh_sources_v4 accept comment "ssh"',
        f'tcp dport {port} ip6 saddr @ssh_sources_v6 accept comment "ssh"')


def _icmp_types(rule, protocol):
    for key, op, right in rule.matches():
        if key == ("payload", protocol, "type") and op in ("==", "in"):
            values = right.get("set", []) if isinstance(right, dict) else right
            return set(values if isinstance(values, list) else [values])
    return set()


@control("BL-FW-01")
def firewall_drops_unsolicited_inbound(ctx):
    ctx.expect(ctx.is_enabled("nftables.service"), "nftables.service is enabled (boot)",
               "nftables.service " + ctx.run("systemctl", "is-enabled",
                                              "nftables.service").stdout.strip())
    ctx.expect(ctx.is_active("nftables.service"), "nftables.service loaded the firewall",
               "nftables.service " + ctx.run("systemctl", "is-active",
                                              "nftables.service").stdout.strip())
    table = _nft_table(ctx)
    if table is None:
        return
    port = int(ctx.params.get("ssh_port", 22))
    for name in ("input", "forward"):
        chain = table.chains.get(name, {})
        ctx.expect(chain.get("hook") == name and chain.get("policy") == "drop",
                   f"chain {name}: hook {name}, policy drop",
                   f"nft: chain {name} hook {chain.get('hook')} policy {chain.get('policy')}")
    texts = [rule.text for rule in table.rules_of("input")]
    for line, requirement in (
            ('iif "lo" accept', "loopback accepted"),
            ('iif != "lo" ip daddr 127.0.0.0/8 drop', "spoofed IPv4 loopback dropped"),
            ('iif != "lo" ip6 daddr ::1 drop', "spoofed IPv6 loopback dropped"),
            ("ct state established,related accept", "established and related accepted")):
        ctx.expect(line in texts, requirement,
                   f"nft: {line}" if line in texts else f"nft: no '{line}' in chain input")
    for protocol, wanted in (("icmp", ICMP_ESSENTIAL), ("icmpv6", ICMPV6_ESSENTIAL)):
        rules = [rule for rule in table.rules_of("input")
                 if rule.verdict == "accept" and _icmp_types(rule, protocol)]
        types = set().union(*(_icmp_types(rule, protocol) for rule in rules))
        ctx.expect(wanted <= types, f"essential {protocol} types accepted",
                   "nft: " + (rules[0].text if rules else f"no {protocol} type rule")
                   + (f" (missing {', '.join(sorted(wanted - types))})" if wanted - types else ""))
    extra = [rule for rule in table.rules_of("input")
             if rule.verdict == "accept" and not _is_baseline_input_rule(rule, port)]
    for rule in extra:
        ctx.expect(False, "chain input accepts only loopback, established, ICMP and SSH",
                   f"nft: {rule.text}")
    extra_forward = [rule for rule in table.rules_of("forward")
                     if rule.verdict == "accept"
                     and rule.text != "ct state established,related accept"]
    for rule in extra_forward:
        ctx.expect(False, "chain forward accepts only established traffic (routes: drop-ins)",
                   f"nft: {rule.text}")
    if not extra and not extra_forward:
        ctx.expect(True, "no other accept rule in chains input and forward",
                   "nft: other ports only through chains openings and services")


@control("BL-FW-02")
def firewall_ssh_from_declared_networks(ctx):
    if "ssh_allowed_networks" not in ctx.params:
        raise CheckError("parameter ssh_allowed_networks (baseline_ssh_allowed_networks) missing")
    declared = _networks(ctx.params["ssh_allowed_networks"])
    port = int(ctx.params.get("ssh_port", 22))
    table = _nft_table(ctx)
    if table is None:
        return
    live = table.set_networks("ssh_sources_v4") + table.set_networks("ssh_sources_v6")
    ctx.expect(_collapsed(live) == _collapsed(declared),
               "the SSH source sets hold the declared networks "
               + ", ".join(_collapsed(declared)),
               "nft: @ssh_sources_v4, @ssh_sources_v6 = " + (", ".join(_collapsed(live))
                                                             or "(empty)"))
    ssh_rule = f'tcp dport {port} ip saddr @ssh_sources_v4 accept comment "ssh"'
    ctx.expect(ssh_rule in [rule.text for rule in table.rules_of("input")],
               f"SSH (tcp {port}) accepted from @ssh_sources_v4", f"nft: {ssh_rule}")
    for chain in table.reachable("input"):
        for rule in table.rules_of(chain):
            if rule.verdict != "accept" or not _admits_new_tcp(rule, port, table):
                continue
            sources = _sources(rule, table)
            where = "any source" if sources is None else (", ".join(_collapsed(sources))
                                                          or "nobody")
            ctx.expect(sources is not None and not _within(sources, declared),
                       f"tcp {port} admitted only from the declared networks",
                       f"nft (chain {chain}): {rule.text} [from {where}]")


def _strip_comment(line):
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "#" and not quoted:
            return line[:index]
    return line


def _norm(text):
    """A rule's text in one canonical spelling (spaces, anonymous sets, counters)."""
    text = re.sub(r"\s+", " ", text.strip())
    text = re.sub(r"\{\s*", "{ ", text)
    text = re.sub(r"\s*\}", " }", text)
    text = re.sub(r"\s*,\s*", ", ", text)
    text = re.sub(r"\bcounter packets \d+ bytes \d+", "counter", text)
    # nft lists an anonymous set of one element as the element.
    text = re.sub(r"\{ ([^{},\s]+) \}", r"\1", text)
    return text.rstrip(";").strip()


def _dropin_statements(text):
    """(chain rules, set elements) of a drop-in for table inet teletreball:
    [(chain, rule text)] and {set: [element strings]}."""
    statements, current, depth = [], "", 0
    for raw in text.splitlines():
        line = _strip_comment(raw).strip()
        if not line:
            continue
        current = f"{current} {line}".strip() if current else line
        depth += line.count("{") - line.count("}")
        opener = re.match(r"^(table|chain|set|map|flowtable)\b.*\{$", line)
        if opener:
            statements.append(("open", line))
            current, depth = "", 0
            continue
        if line == "}":
            statements.append(("close", line))
            current, depth = "", 0
            continue
        if current.count("{") == current.count("}"):
            for part in current.split(";"):
                if part.strip():
                    statements.append(("stmt", part.strip()))
            current, depth = "", 0
    rules, elements, stack = [], {}, []
    for kind, line in statements:
        if kind == "open":
            words = line.split()
            stack.append((words[0], words[-2] if words[0] == "table" else words[1]))
            continue
        if kind == "close":
            if stack:
                stack.pop()
            continue
        flat = re.match(r"^(?:add|insert) rule inet " + NFT_TABLE + r" (\S+) (.*)$", line)
        if flat:
            rules.append((flat.group(1), _norm(flat.group(2))))
            continue
        flat = re.match(r"^add element inet " + NFT_TABLE + r" (\S+) \{(.*)\}$", line)
        if flat:
            elements.setdefault(flat.group(1), []).extend(
                item.strip() for item in flat.group(2).split(",") if item.strip())
            continue
        if not stack or stack[0][1] != NFT_TABLE:
            continue
        kind_, name = stack[-1]
        if kind_ == "chain" and not line.startswith(("type ", "policy ", "comment ")):
            rules.append((name, _norm(line)))
        elif kind_ == "set":
            found = re.match(r"^elements\s*=\s*\{(.*)\}$", line)
            if found:
                elements.setdefault(name, []).extend(
                    item.strip() for item in found.group(1).split(",") if item.strip())
    return rules, elements


def _opening_rules(openings):
    """What chain openings must hold for baseline_firewall_openings: a multiset
    of (name, proto, ports, family, sources)."""
    wanted = []
    for opening in openings or []:
        ports = frozenset(int(port) for port in opening.get("ports", []))
        for version, family in ((4, "ip"), (6, "ip6")):
            sources = [net for net in _networks(opening.get("sources", []))
                       if net.version == version]
            if sources:
                wanted.append((str(opening.get("name")), str(opening.get("proto")), ports,
                               family, tuple(_collapsed(sources))))
    return sorted(wanted, key=repr)


def _live_opening(rule, table):
    proto, ports, family, sources = None, None, None, None
    for (kind, *key), _op, right in rule.matches():
        if kind == "payload" and key[1:] == ["dport"]:
            proto, ports = key[0], frozenset(_ports(right, table) or ())
        if kind == "payload" and key[1:] == ["saddr"]:
            family, sources = key[0], tuple(_collapsed(_element_networks(right)))
    return (str(rule.comment), proto, ports, family, sources)


@control("BL-FW-03")
def firewall_openings_declared(ctx):
    checker = ctx.stat(NFT_CHECKER)
    ctx.expect(bool(checker) and checker["user"] == "root" and checker["mode"] == "0755",
               "the drop-in checker is installed (root, 0755)",
               f"{NFT_CHECKER}: " + (f"{checker['mode']} {checker['user']}" if checker
                                     else "missing"))
    if checker:
        checked = ctx.run(NFT_CHECKER)
        said = checked.stderr.strip()[:300] or ("no error" if checked.ok else f"exit {checked.rc}")
        ctx.expect(checked.ok, "the configuration with its drop-ins passes nft -c",
                   f"{NFT_CHECKER}: {said}")
    config = ctx.stat(NFT_CONFIG)
    ctx.expect(bool(config) and config["user"] == "root" and int(config["mode"], 8) & 0o022 == 0,
               "the firewall's configuration is root's, not writable by others",
               f"{NFT_CONFIG}: " + (f"{config['mode']} {config['user']}" if config
                                    else "missing"))
    folder = ctx.stat(NFT_DROPIN_DIR)
    ctx.expect(bool(folder) and folder["user"] == "root" and int(folder["mode"], 8) & 0o022 == 0,
               "the drop-in folder is root's, not writable by others",
               f"{NFT_DROPIN_DIR}: " + (f"{folder['mode']} {folder['user']}" if folder
                                        else "missing"))
    listed = ctx.run("find", NFT_DROPIN_DIR, "-maxdepth", "1", "-name", "*.nft",
                     "-printf", "%m %u %p\\n")
    on_disk, elements = [], {}
    for line in sorted(listed.stdout.splitlines()):
        mode, user, path = line.split(" ", 2)
        ctx.expect(user == "root" and int(mode, 8) & 0o022 == 0,
                   "each drop-in is root's, not writable by others", f"{path}: {mode} {user}")
        text = ctx.read(path)
        if text is not None:
            rules, sets = _dropin_statements(text)
            on_disk.extend(rules)
            for name, items in sets.items():
                elements.setdefault(name, []).extend(items)
    table = _nft_table(ctx)
    if table is None:
        return
    # (a) chain openings: the inventory's baseline_firewall_openings, nothing else.
    wanted = _opening_rules(ctx.params.get("firewall_openings", []))
    live_rules = table.rules_of("openings")
    live = sorted((_live_opening(rule, table) for rule in live_rules), key=repr)
    ctx.expect(live == wanted,
               "chain openings holds the declared openings only",
               "nft: chain openings: " + ("; ".join(rule.text for rule in live_rules) or "(empty)")
               + f" (declared: {len(wanted)} rules)")
    # (b) the chains of the drop-ins hold the rules of the files, no more, no less.
    live_dropin = [(rule.chain, _norm(rule.text)) for rule in table.rules
                   if rule.chain not in NFT_MAIN_CHAINS]
    texts = {(rule.chain, _norm(rule.text)): rule.text for rule in table.rules}
    unknown = [item for item in live_dropin if item not in on_disk]
    unloaded = [item for item in on_disk if item not in live_dropin]
    for item in unknown:
        ctx.expect(False, "every rule of the drop-in chains comes from a drop-in on disk",
                   f"nft (chain {item[0]}): {texts[item]}")
    for item in unloaded:
        ctx.expect(False, "every rule of the drop-ins on disk is loaded",
                   f"{NFT_DROPIN_DIR} (chain {item[0]}): {item[1]}")
    if not unknown and not unloaded:
        ctx.expect(True, "the drop-in chains hold the rules of the drop-ins on disk",
                   f"nft: {len(live_dropin)} rules, as in {len(listed.stdout.splitlines())} "
                   f"drop-ins")
    # Named sets of the drop-ins hold no address the files do not list.
    for name, items in sorted(elements.items()):
        live_set = table.sets.get(name)
        if live_set is None or "addr" not in live_set.get("type", ""):
            continue
        try:
            declared = _networks(items)
        except ValueError:
            continue
        extra = _within(_networks(live_set.get("elem", [])), declared)
        ctx.expect(not extra, f"set {name} holds only the drop-in's addresses",
                   (f"nft: @{name} also holds " + ", ".join(_collapsed(extra))) if extra
                   else f"nft: @{name}: every address listed in its drop-in")


# --- BL-SYS-01..03: kernel and network parameters ------------------------------
#
# At boot: the last value of each key over the files systemd-sysctl applies
# (`systemd-analyze cat-config sysctl.d`, in its order). Live: `sysctl`, which
# a container cannot set (waivable). Parameter: routes_traffic (BL-SYS-03, the
# host's baseline_routes_traffic).

SYSCTL_KERNEL = {
    "kernel.randomize_va_space": "2", "kernel.kptr_restrict": "2", "kernel.dmesg_restrict": "1",
    "kernel.yama.ptrace_scope": "1", "kernel.sysrq": "0", "fs.protected_hardlinks": "1",
    "fs.protected_symlinks": "1", "fs.protected_fifos": "2", "fs.protected_regular": "2",
    "fs.suid_dumpable": "0", "net.core.bpf_jit_harden": "2",
}
SYSCTL_NETWORK = {
    f"net.ipv4.conf.{scope}.{key}": value
    for scope in ("all", "default")
    for key, value in (("rp_filter", "1"), ("accept_redirects", "0"), ("secure_redirects", "0"),
                       ("send_redirects", "0"), ("accept_source_route", "0"),
                       ("log_martians", "1"))
}
SYSCTL_NETWORK.update({
    "net.ipv4.icmp_echo_ignore_broadcasts": "1", "net.ipv4.icmp_ignore_bogus_error_responses": "1",
    "net.ipv4.tcp_syncookies": "1",
})
SYSCTL_NETWORK.update({
    f"net.ipv6.conf.{scope}.{key}": "0"
    for scope in ("all", "default")
    for key in ("accept_redirects", "accept_source_route", "accept_ra")
})
SYSCTL_FORWARDING = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")
SYSCTL_FILE = "/etc/sysctl.d/90-teletreball-baseline.conf"


def _sysctl_at_boot(ctx):
    """{key: (value, file)}: what systemd-sysctl sets at boot."""
    out = ctx.output("systemd-analyze", "cat-config", "sysctl.d")
    values, source = {}, "?"
    for raw in out.splitlines():
        line = raw.strip()
        header = re.match(r"^# (/\S+)$", line)
        if header:
            source = header.group(1)
            continue
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip().lstrip("-").replace("/", ".")] = (value.strip(), source)
    return values


def _sysctl_live(ctx, keys):
    result = ctx.run("sysctl", *keys)
    values = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition(" = ")
        if sep:
            values[key.strip()] = value.strip()
    return values


def _sysctl_control(ctx, wanted):
    ctx.read(SYSCTL_FILE)
    boot = _sysctl_at_boot(ctx)
    for key, value in wanted.items():
        found, source = boot.get(key, (None, None))
        ctx.expect(found == value, f"{key} = {value} at boot",
                   f"{key} = {found} ({source})" if found is not None
                   else f"{key}: not set by any sysctl.d file")
    live = _sysctl_live(ctx, list(wanted))
    for key, value in wanted.items():
        ctx.expect(live.get(key) == value, f"{key} = {value} live",
                   f"sysctl: {key} = {live.get(key, '(none)')}", waivable=True)


@control("BL-SYS-01")
def sysctl_kernel_hardening(ctx):
    _sysctl_control(ctx, SYSCTL_KERNEL)


@control("BL-SYS-02")
def sysctl_network_hardening(ctx):
    _sysctl_control(ctx, SYSCTL_NETWORK)


@control("BL-SYS-03")
def sysctl_forwarding_only_on_routers(ctx):
    value = "1" if ctx.params.get("routes_traffic") else "0"
    _sysctl_control(ctx, dict.fromkeys(SYSCTL_FORWARDING, value))


# --- BL-LOG-01..04: auditd and the journal --------------------------------------
#
# Parameters: sudo_logfile (baseline_sudo_logfile), audit_privileged_extra
# (baseline_auditd_privileged_extra), audit_max_log_file, audit_settings (the
# auditd.conf values of BL-LOG-04, {key: value}), journald_retention_days,
# journald_system_max_use.

AUDIT_RULES_DIR = "/etc/audit/rules.d"
AUDIT_RULES_FILE = f"{AUDIT_RULES_DIR}/50-teletreball-baseline.rules"
AUDITD_CONF = "/etc/audit/auditd.conf"
AUDIT_WATCHES = (
    "/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/security/opasswd",
    "/etc/nsswitch.conf", "/etc/pam.conf", "/etc/pam.d", "/etc/sudoers", "/etc/sudoers.d",
    "/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d", "/etc/login.defs", "/var/log/lastlog",
)


def _audit_rules(lines):
    """(watches {path: permissions}, privileged programs) of audit rules, in the
    form of rules.d files (-w) or of auditctl -l (-F dir=/path=)."""
    watches, programs = {}, set()
    for raw in lines:
        line = raw.strip()
        watch = re.match(r"^-w (\S+?)/? .*-p (\w+)", line)
        if watch:
            watches[watch.group(1)] = watch.group(2)
            continue
        if not line.startswith("-a ") or "exit" not in line:
            continue
        fields = dict(re.findall(r"-F (\w+)[=]([^\s]+)", line))
        path = fields.get("path") or fields.get("dir")
        perm = fields.get("perm", "")
        if path and "x" in perm and re.search(r"-F auid>=1000\b", line) and (
                "auid!=unset" in line or "auid!=-1" in line or "auid!=4294967295" in line):
            programs.add(path)
        elif path and perm and "x" not in perm:
            watches[path.rstrip("/")] = perm
    return watches, programs


def _privileged_programs(ctx):
    found = ctx.run("find", "/", "-xdev", "-type", "f", "-perm", "/6000")
    programs = set(found.stdout.split())
    programs.update(ctx.params.get("audit_privileged_extra") or [])
    return programs


def _expect_audit_rules(ctx, watches, programs, privileged, where, waivable=False):
    wanted = list(AUDIT_WATCHES) + [ctx.params.get("sudo_logfile", "/var/log/sudo.log")]
    missing = [path for path in wanted if not {"w", "a"} <= set(watches.get(path, ""))]
    ctx.expect(not missing, f"{where}: writes to identity, sudo, sshd and login files audited",
               f"{where}: not watched: {', '.join(missing)}" if missing
               else f"{where}: -w {' '.join(wanted[:3])} ... -p wa ({len(wanted)} watches)",
               waivable=waivable)
    unaudited = sorted(privileged - programs)
    ctx.expect(not unaudited, f"{where}: every setuid/setgid program's execution audited",
               f"{where}: no rule for {', '.join(unaudited)}" if unaudited
               else f"{where}: -a always,exit -F path=... -F perm=x -F auid>=1000 "
                    f"({len(privileged)} programs)", waivable=waivable)


@control("BL-LOG-01")
def audit_rules(ctx):
    listed = ctx.run("find", AUDIT_RULES_DIR, "-maxdepth", "1", "-name", "*.rules")
    lines = []
    for path in sorted(listed.stdout.split()):
        lines.extend((ctx.read(path, evidence=path == AUDIT_RULES_FILE) or "").splitlines())
    ctx.expect(AUDIT_RULES_FILE in listed.stdout.split(), "the baseline's audit rules file exists",
               AUDIT_RULES_FILE + (" present" if AUDIT_RULES_FILE in listed.stdout else " missing"))
    privileged = _privileged_programs(ctx)
    watches, programs = _audit_rules(lines)
    _expect_audit_rules(ctx, watches, programs, privileged, "rules.d (loaded at boot)")
    loaded = ctx.run("auditctl", "-l")
    if not loaded.ok:
        ctx.expect(False, "the audit rules are loaded in the kernel",
                   "auditctl -l: " + (loaded.stderr.strip().splitlines() or ["failed"])[0],
                   waivable=True)
        return
    watches, programs = _audit_rules(loaded.stdout.splitlines())
    _expect_audit_rules(ctx, watches, programs, privileged, "auditctl -l (loaded)",
                        waivable=True)


def _auditd_conf(ctx):
    """{key: [values]} of auditd.conf (a key twice is reported)."""
    settings = {}
    for line in (ctx.read(AUDITD_CONF) or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.strip().startswith("#"):
            settings.setdefault(key.strip().lower(), []).append(value.strip())
    return settings


def _expect_auditd_setting(ctx, settings, key, wanted):
    values = settings.get(key, [])
    ctx.expect(len(values) == 1 and values[0].lower() == str(wanted).lower(),
               f"auditd.conf {key} = {wanted} (once)",
               f"auditd.conf: {key} = {' / '.join(values) if values else '(unset)'}")


@control("BL-LOG-02")
def auditd_keeps_logs(ctx):
    settings = _auditd_conf(ctx)
    _expect_auditd_setting(ctx, settings, "max_log_file_action", "keep_logs")
    size = ctx.params.get("audit_max_log_file")
    if size is not None:
        _expect_auditd_setting(ctx, settings, "max_log_file", size)
    else:
        values = settings.get("max_log_file", ["0"])
        ctx.expect(values[-1].isdigit() and int(values[-1]) > 0, "auditd.conf max_log_file set",
                   f"auditd.conf: max_log_file = {values[-1]}")
    state = ctx.run("systemctl", "is-enabled", "auditd.service").stdout.strip()
    ctx.expect(ctx.is_enabled("auditd.service"), "auditd.service is enabled (boot)",
               f"auditd.service {state}")
    active = ctx.run("systemctl", "is-active", "auditd.service").stdout.strip()
    ctx.expect(active == "active", "auditd runs", f"auditd.service {active}", waivable=True)


AUDITD_SPACE_DEFAULTS = {
    "space_left": "15%", "space_left_action": "syslog", "action_mail_acct": "root",
    "admin_space_left": "5%", "admin_space_left_action": "suspend",
    "disk_full_action": "suspend", "disk_error_action": "syslog",
}


@control("BL-LOG-04")
def auditd_acts_as_its_disk_fills(ctx):
    settings = _auditd_conf(ctx)
    wanted = dict(AUDITD_SPACE_DEFAULTS)
    wanted.update(ctx.params.get("audit_settings") or {})
    for key, value in wanted.items():
        _expect_auditd_setting(ctx, settings, key, value)

    def percent(key):
        value = (settings.get(key) or ["0"])[-1].rstrip("%")
        return int(value) if value.isdigit() else 0

    ctx.expect(percent("space_left") > percent("admin_space_left"),
               "auditd warns (space_left) before it suspends (admin_space_left)",
               f"space_left {percent('space_left')}%, admin_space_left "
               f"{percent('admin_space_left')}%")
    conf = ctx.stat(AUDITD_CONF)
    ctx.expect(bool(conf) and conf["user"] == "root" and int(conf["mode"], 8) & 0o022 == 0,
               "auditd.conf is root's, not writable by others",
               f"{AUDITD_CONF}: " + (f"{conf['mode']} {conf['user']}" if conf else "missing"))


def _seconds(span):
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600,
             "d": 86400, "day": 86400, "w": 604800, "week": 604800,
             "month": 2630016, "y": 31557600, "year": 31557600}
    total = 0
    for number, unit in re.findall(r"(\d+)\s*([a-z]*)", span.lower()):
        total += int(number) * units.get(unit.rstrip("s") if unit not in units else unit, 0)
    return total


@control("BL-LOG-03")
def journal_persistent(ctx):
    out = ctx.output("systemd-analyze", "cat-config", "systemd/journald.conf")
    settings = {}
    for raw in out.splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    storage = settings.get("Storage")
    ctx.expect(storage == "persistent", "journald Storage=persistent", f"Storage={storage}")
    compress = settings.get("Compress", "yes")
    ctx.expect(compress in ("yes", "true", "1") or compress[:1].isdigit(),
               "journald compresses", f"Compress={compress}")
    retention = settings.get("MaxRetentionSec", "")
    days = ctx.params.get("journald_retention_days")
    minimum = max(90, int(days or 90))
    ctx.expect(_seconds(retention) >= minimum * 86400 and (
        days is None or _seconds(retention) == int(days) * 86400),
        f"journald keeps entries {days or 'at least 90'} days (MaxRetentionSec)",
        f"MaxRetentionSec={retention or '(unset: no time limit)'}")
    limit = ctx.params.get("journald_system_max_use")
    ctx.expect(bool(settings.get("SystemMaxUse")) and (
        limit is None or settings.get("SystemMaxUse") == str(limit)),
        f"journald's disk use limited (SystemMaxUse {limit or 'set'})",
        f"SystemMaxUse={settings.get('SystemMaxUse', '(unset)')}")
    ctx.expect(ctx.is_active("systemd-journald.service"), "journald runs",
               "systemd-journald.service " + ctx.run(
                   "systemctl", "is-active", "systemd-journald.service").stdout.strip())
    files = ctx.run("find", "/var/log/journal", "-name", "system.journal")
    ctx.expect(bool(files.stdout.strip()), "the journal is written to /var/log/journal",
               (files.stdout.split() or ["/var/log/journal: no system.journal"])[0])


# --- BL-NET-01: static routes ----------------------------------------------------
#
# Parameter: routes (baseline_routes: [{to, via}]).

ROUTES_UNIT = "teletreball-routes.service"
ROUTES_PROTOCOL = "241"


@control("BL-NET-01")
def static_routes(ctx):
    declared = [(str(route["to"]), str(route["via"])) for route in ctx.params.get("routes") or []]
    unit_text = ctx.read(f"/etc/systemd/system/{ROUTES_UNIT}")
    ctx.expect(unit_text is not None, f"{ROUTES_UNIT} is installed",
               f"/etc/systemd/system/{ROUTES_UNIT}" + (" present" if unit_text else " missing"))
    state = ctx.run("systemctl", "is-enabled", ROUTES_UNIT).stdout.strip()
    ctx.expect(ctx.is_enabled(ROUTES_UNIT), f"{ROUTES_UNIT} is enabled (boot)",
               f"{ROUTES_UNIT} {state}")
    active = ctx.run("systemctl", "is-active", ROUTES_UNIT).stdout.strip()
    ctx.expect(active == "active", f"{ROUTES_UNIT} has set the routes", f"{ROUTES_UNIT} {active}")
    at_boot = re.findall(r"^ExecStart=\S*ip route replace (\S+) via (\S+) proto "
                         + ROUTES_PROTOCOL + r"\s*$", unit_text or "", re.MULTILINE)
    ctx.expect(sorted(at_boot) == sorted(declared), "the unit sets the declared routes at boot",
               f"{ROUTES_UNIT}: " + (", ".join(f"{to} via {via}" for to, via in at_boot)
                                     or "no route"))
    out = ctx.output("ip", "-4", "route", "show", "proto", ROUTES_PROTOCOL)
    live = []
    for line in out.splitlines():
        fields = line.split()
        if "via" in fields:
            live.append((fields[0], fields[fields.index("via") + 1]))
    for to, via in declared:
        line = next((line for line in out.splitlines() if line.split()[:1] == [to]), None)
        ctx.expect((to, via) in live, f"route to {to} via {via}",
                   f"ip route: {line}" if line else f"ip route: no route to {to} (proto 241)")
    for to, via in live:
        if (to, via) not in declared:
            ctx.expect(False, "no undeclared route of protocol 241", f"ip route: {to} via {via}")
    if not declared and not live:
        ctx.expect(True, "no static route declared, none set", "ip route show proto 241: none")


# --- BL-TIME-01: chrony -----------------------------------------------------------
#
# Parameter: ntp_servers (baseline_ntp_servers).

CHRONY_CONF = "/etc/chrony/chrony.conf"


@control("BL-TIME-01")
def time_from_declared_servers(ctx):
    declared = [str(server) for server in ctx.params.get("ntp_servers") or []]
    parsed = ctx.run("chronyd", "-p", "-f", CHRONY_CONF)
    ctx.expect(parsed.ok, "chrony.conf is valid (chronyd -p)",
               parsed.stderr.strip()[:300] or "chronyd -p: no error")
    sources = [line.split() for line in parsed.stdout.splitlines()
               if line.split()[:1] in (["server"], ["pool"], ["peer"], ["sourcedir"],
                                       ["refclock"])]
    servers = [words[1] for words in sources if words[0] == "server" and len(words) > 1]
    others = [" ".join(words) for words in sources if words[0] != "server"]
    ctx.expect(sorted(servers) == sorted(declared),
               f"chrony's servers are {', '.join(declared) or '(none declared)'}",
               "chronyd -p: " + (", ".join(f"server {name}" for name in servers) or "no server"))
    ctx.expect(not others, "no pool, peer or source folder", "chronyd -p: " + (
        "; ".join(others) or "no pool, peer, sourcedir or refclock"))
    state = ctx.run("systemctl", "is-enabled", "chrony.service").stdout.strip()
    ctx.expect(ctx.is_enabled("chrony.service"), "chrony.service is enabled (boot)",
               f"chrony.service {state}")
    pid = ctx.run("systemctl", "show", "--property", "MainPID", "--value",
                  "chrony.service").stdout.strip()
    running = ctx.is_active("chrony.service") and pid not in ("", "0")
    ctx.expect(running, "chronyd runs", f"chrony.service MainPID {pid or '(none)'}")
    live = ctx.run("chronyc", "-c", "-N", "sources")
    used = [line.split(",")[2] for line in live.stdout.splitlines() if line.count(",") >= 2]
    undeclared = [name for name in used if name not in declared]
    ctx.expect(live.ok and not undeclared, "chronyd uses no undeclared source",
               "chronyc sources: " + (", ".join(used) or "(none reachable yet)")
               if live.ok else "chronyc: " + live.stderr.strip()[:200])
    if running:
        command = (ctx.read(f"/proc/{pid}/cmdline") or "").split("\0")
        ctx.expect("-x" not in command, "chronyd may set the system clock (no -x)",
                   "chronyd: " + " ".join(word for word in command if word), waivable=True)


# --- BL-UPD-01: unattended security upgrades ------------------------------------
#
# Parameter: unattended_reboot (baseline_unattended_upgrades_reboot).

@control("BL-UPD-01")
def security_updates_daily(ctx):
    installed = ctx.run("dpkg-query", "--show", "--showformat", "${Status}",
                        "unattended-upgrades")
    ctx.expect(installed.stdout.strip() == "install ok installed",
               "unattended-upgrades is installed",
               "unattended-upgrades: " + (installed.stdout.strip() or "not installed"))
    dump = ctx.output("apt-config", "dump")
    config = {}
    for line in dump.splitlines():
        key, _, value = line.partition(" ")
        config.setdefault(key, []).append(value.strip().rstrip(";").strip('"'))
    patterns = [value for value in config.get("Unattended-Upgrade::Origins-Pattern::", [])
                if value]
    ctx.expect(bool(patterns) and all("label=Debian-Security" in item for item in patterns),
               "unattended-upgrades installs from the Debian security archive only",
               "Origins-Pattern: " + ("; ".join(patterns) or "(none)"))
    allowed = [value for value in config.get("Unattended-Upgrade::Allowed-Origins::", [])
               if value]
    ctx.expect(not allowed or all(item.endswith("-security") or "Debian-Security" in item
                                  for item in allowed),
               "no other archive in Allowed-Origins",
               "Allowed-Origins: " + ("; ".join(allowed) or "(none)"))
    for key in ("APT::Periodic::Update-Package-Lists", "APT::Periodic::Unattended-Upgrade"):
        value = (config.get(key) or ["(unset)"])[-1]
        ctx.expect(value in ("1", "always"), f"{key} every day", f'{key} "{value}"')
    reboot = (config.get("Unattended-Upgrade::Automatic-Reboot") or ["false"])[-1]
    wanted = "true" if ctx.params.get("unattended_reboot") else "false"
    ctx.expect(reboot == wanted, f"automatic reboot {wanted}",
               f'Unattended-Upgrade::Automatic-Reboot "{reboot}"')
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        enabled = ctx.run("systemctl", "is-enabled", timer).stdout.strip()
        active = ctx.run("systemctl", "is-active", timer).stdout.strip()
        ctx.expect(enabled == "enabled" and active == "active", f"{timer} enabled and active",
                   f"{timer} {enabled}, {active}")


# --- BL-ACC-01..03: login.defs, pam_umask, TMOUT --------------------------------
#
# Parameters: password_max_days, password_min_days, password_warn_age, umask,
# shell_timeout (the baseline_* values).

LOGIN_DEFS = "/etc/login.defs"
PAM_SESSION_FILES = ("/etc/pam.d/common-session", "/etc/pam.d/common-session-noninteractive")
TMOUT_FILE = "/etc/profile.d/teletreball-tmout.sh"


def _login_defs(ctx):
    settings = {}
    for line in (ctx.read(LOGIN_DEFS) or "").splitlines():
        words = line.split()
        if len(words) >= 2 and not words[0].startswith("#"):
            settings[words[0]] = words[1]
    return settings


def _expect_login_def(ctx, settings, key, check, requirement, wanted=None):
    value = settings.get(key)
    ok = value is not None and value.isdigit() and check(int(value))
    if wanted is not None:
        ok = ok and int(value) == int(wanted)
        requirement = f"{requirement}, {wanted} as declared"
    ctx.expect(ok, f"login.defs {key} {requirement}", f"{key} {value or '(unset)'}")


@control("BL-ACC-01")
def password_ageing(ctx):
    settings = _login_defs(ctx)
    params = ctx.params
    _expect_login_def(ctx, settings, "PASS_MAX_DAYS", lambda days: 1 <= days <= 365,
                      "at most 365", params.get("password_max_days"))
    _expect_login_def(ctx, settings, "PASS_MIN_DAYS", lambda days: days >= 1,
                      "at least 1", params.get("password_min_days"))
    _expect_login_def(ctx, settings, "PASS_WARN_AGE", lambda days: days >= 7,
                      "at least 7", params.get("password_warn_age"))


@control("BL-ACC-02")
def default_umask(ctx):
    value = _login_defs(ctx).get("UMASK", "")
    wanted = str(ctx.params.get("umask", "027"))
    ok = bool(re.fullmatch(r"0?[0-7]{3}", value)) and int(value, 8) & 0o027 == 0o027
    ctx.expect(ok and int(value, 8) == int(wanted, 8),
               f"login.defs UMASK {wanted} (027 or stricter)", f"UMASK {value or '(unset)'}")
    for path in PAM_SESSION_FILES:
        lines = [line.strip() for line in (ctx.read(path) or "").splitlines()
                 if re.match(r"^\s*session\s+\S+\s+pam_umask\.so\b", line)]
        ctx.expect(any("nousergroups" in line.split() for line in lines),
                   f"{path}: pam_umask with nousergroups",
                   f"{path}: " + (lines[0] if lines else "no pam_umask line"))


@control("BL-ACC-03")
def shell_timeout(ctx):
    wanted = ctx.params.get("shell_timeout")
    info = ctx.stat(TMOUT_FILE)
    ctx.expect(bool(info) and info["user"] == "root" and int(info["mode"], 8) & 0o022 == 0,
               f"{TMOUT_FILE} is root's, not writable by others",
               f"{TMOUT_FILE}: " + (f"{info['mode']} {info['user']}" if info else "missing"))
    text = ctx.read(TMOUT_FILE) or ""
    values = [int(value) for value in re.findall(r"^\s*TMOUT=(\d+)\s*$", text, re.MULTILINE)]
    ok = bool(values) and all(0 < value <= 900 for value in values) and (
        wanted is None or values == [int(wanted)])
    ctx.expect(ok, f"TMOUT={wanted or 'at most 900'} for every login shell",
               "TMOUT=" + (", ".join(map(str, values)) or "(not set)"))
    lines = [line.strip() for line in text.splitlines()]
    ctx.expect("readonly TMOUT" in lines and "export TMOUT" in lines,
               "TMOUT is read-only and exported", "; ".join(
                   line for line in lines if line.startswith(("readonly", "export")))
               or "no readonly/export TMOUT")


# --- BL-SUDO-01 -------------------------------------------------------------------
#
# Parameter: sudo_logfile (baseline_sudo_logfile). sudo -l is not used: sudo
# would log the listing in that very log file.

SUDOERS_FILE = "/etc/sudoers.d/teletreball-baseline"


@control("BL-SUDO-01")
def sudo_pty_and_log(ctx):
    checked = ctx.run("visudo", "-c")
    ctx.expect(checked.ok, "sudoers are valid (visudo -c)",
               (checked.stderr.strip() or "visudo -c: parsed OK").splitlines()[-1])
    info = ctx.stat(SUDOERS_FILE)
    ctx.expect(bool(info) and info["user"] == "root" and info["mode"] == "0440",
               f"{SUDOERS_FILE} is root's, 0440",
               f"{SUDOERS_FILE}: " + (f"{info['mode']} {info['user']}" if info else "missing"))
    listed = ctx.run("find", "/etc/sudoers.d", "-maxdepth", "1", "-type", "f",
                     "!", "-name", "*~", "!", "-name", "*.*")
    defaults = []
    for path in ["/etc/sudoers"] + sorted(listed.stdout.split()):
        for line in (ctx.read(path, evidence=path == SUDOERS_FILE) or "").splitlines():
            # Also Defaults:user, @host, >runas and !command: a scoped !use_pty
            # leaves those sessions without a pseudo-terminal.
            if re.match(r"^\s*Defaults(?:[:@>!]\S+)?\s", line):
                defaults.append((path, line.split(None, 1)[1].strip()))
    use_pty = None
    logfile = None
    for path, entry in defaults:
        for item in re.findall(r'!?\w+(?:\s*=\s*(?:"[^"]*"|[^,\s]+))?', entry):
            name, _, value = item.partition("=")
            name = name.strip()
            if name in ("use_pty", "!use_pty"):
                use_pty = (name == "use_pty", path, item)
            elif name in ("logfile", "!logfile"):
                logfile = (value.strip().strip('"') if name == "logfile" else None, path, item)
    ctx.expect(bool(use_pty and use_pty[0]), "sudo runs commands in a pseudo-terminal (use_pty)",
               f"{use_pty[1]}: Defaults {use_pty[2]}" if use_pty else "no Defaults use_pty")
    wanted = ctx.params.get("sudo_logfile", "/var/log/sudo.log")
    ctx.expect(bool(logfile) and logfile[0] == wanted, f"sudo logs every command to {wanted}",
               f"{logfile[1]}: Defaults {logfile[2]}" if logfile else "no Defaults logfile")


# --- BL-BAN-01 --------------------------------------------------------------------
#
# Parameter: login_banner (baseline_login_banner).

@control("BL-BAN-01")
def login_banner(ctx):
    wanted = ctx.params.get("login_banner")
    for path in ("/etc/issue", "/etc/issue.net"):
        text = ctx.read(path)
        first = (text or "").strip().splitlines()[:1]
        ctx.expect(bool(text and text.strip()) and (
            wanted is None or text == str(wanted).strip() + "\n"),
            f"{path} is the legal notice", f"{path}: " + (first[0] if first else "(empty)"))
        leaks = [word for word in ("\\", "Debian", "GNU/Linux") if word in (text or "")]
        ctx.expect(not leaks, f"{path} shows no system information or agetty escapes",
                   f"{path}: " + (f"contains {', '.join(leaks)}" if leaks else "plain text"))
    banner = ctx.sshd_effective().get("banner")
    ctx.expect(banner == "/etc/issue.net", "sshd shows /etc/issue.net before authentication",
               f"banner {banner}")


# --- BL-PKI-01 --------------------------------------------------------------------
#
# Parameter: extra_ca_certificates (the names of baseline_extra_ca_certificates).

CA_DIR = "/usr/local/share/ca-certificates/teletreball"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
CA_HASHED_DIR = "/etc/ssl/certs"


@control("BL-PKI-01")
def extra_ca_certificates(ctx):
    declared = sorted(f"{CA_DIR}/{name}.crt" for name in
                      ctx.params.get("extra_ca_certificates") or [])
    listed = ctx.run("find", CA_DIR, "-maxdepth", "1", "-type", "f")
    present = sorted(listed.stdout.split())
    ctx.expect(present == declared, f"{CA_DIR} holds the declared certificates only",
               f"{CA_DIR}: " + (", ".join(path.rsplit("/", 1)[1] for path in present)
                                or "(none)"))
    for path in declared:
        for option, store, where in (("-CAfile", CA_BUNDLE, "the system bundle"),
                                     ("-CApath", CA_HASHED_DIR, "the hashed folder")):
            verified = ctx.run("openssl", "verify", option, store, path)
            ctx.expect(verified.ok and verified.stdout.strip().endswith(": OK"),
                       f"{path.rsplit('/', 1)[1]} is trusted through {where}",
                       f"openssl verify {option} {store}: "
                       + (verified.stdout.strip() or verified.stderr.strip())[:300])
