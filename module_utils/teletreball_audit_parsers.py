# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readers the live checks of several ``teletreball_checks_*`` modules share: the
parameters a check needs, ini files, the firewall (``nft -j list ruleset`` and the
text of ``nft list ruleset``), units, file modes and TLS handshakes.

Each checks module imports what it uses from here explicitly
(``from ansible.module_utils.teletreball_audit_parsers import ...``), as Ansible
ships every imported module_utils file with the module; no checks module imports
another.
"""

from __future__ import annotations

import ipaddress
import json
import re

from ansible.module_utils.teletreball_audit import CheckError

# --- parameters ------------------------------------------------------------------

DIRECTORY_MISSING = (
    "the staff directory was not derived (hostvars['localhost']['teletreball_directory']): "
    "the audit needs it for {}"
)


def need(ctx, key, what=None):
    """A parameter the check cannot do without (CheckError when it is missing)."""
    value = ctx.params.get(key)
    if value is None:
        raise CheckError(DIRECTORY_MISSING.format(what) if what
                         else f"the parameter {key} is missing")
    return value


# --- ini files (xrdp.ini, sesman.ini) --------------------------------------------


def parse_ini(text):
    """{section: {key: [values]}} of an ini file (keys may repeat: all values kept)."""
    sections, section = {}, None
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            sections.setdefault(section, {})
            continue
        if section is None or "=" not in line:
            continue
        key, _, value = line.partition("=")
        sections[section].setdefault(key.strip(), []).append(value.strip())
    return sections


def ini_value(ini, section, key):
    """The one value of a key, None when missing; several different values give
    ``"<a> | <b>"``, which no requirement accepts."""
    values = ini.get(section, {}).get(key)
    if not values:
        return None
    return values[0] if len(set(values)) == 1 else " | ".join(values)


def is_true(value):
    return str(value).strip().lower() in ("true", "yes", "1", "on")


def is_false(value):
    return str(value).strip().lower() in ("false", "no", "0", "off")


# --- nftables (nft -j) -----------------------------------------------------------


class Ruleset:
    """The live nftables ruleset as ``nft -j list ruleset`` shows it."""

    def __init__(self, data):
        self.chains, self.sets, self.rules = {}, {}, {}
        for item in data.get("nftables", []):
            if "chain" in item:
                chain = item["chain"]
                self.chains[(chain["family"], chain["table"], chain["name"])] = chain
            elif "set" in item:
                nset = item["set"]
                self.sets[(nset["family"], nset["table"], nset["name"])] = nset.get("elem", [])
            elif "rule" in item:
                rule = item["rule"]
                self.rules.setdefault((rule["family"], rule["table"], rule["chain"]), []).append(
                    rule["expr"])
        for key in self.chains:
            self.rules.setdefault(key, [])

    def chain_rules(self, family, table, name):
        return self.rules.get((family, table, name))

    def reachable(self, family, table, name, seen=None):
        """(chain name, rule) of a chain and of every chain it jumps or goes to, in order."""
        seen = set() if seen is None else seen
        if name in seen:
            return []
        seen.add(name)
        out = []
        for expr in self.rules.get((family, table, name), []):
            out.append((name, expr))
            target = jump_target(expr)
            if target:
                out += self.reachable(family, table, target, seen)
        return out

    def all_rules(self):
        for (family, table, chain), rules in self.rules.items():
            for expr in rules:
                yield family, table, chain, expr


def ruleset(ctx):
    out = ctx.run("nft", "-j", "list", "ruleset", evidence=False)
    if out.rc != 0:
        raise CheckError(f"nft -j list ruleset failed (exit {out.rc}): {out.stderr.strip()[:300]}")
    try:
        return Ruleset(json.loads(out.stdout))
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckError(f"cannot read nft's JSON: {exc}") from exc


def jump_target(expr):
    for statement in expr:
        for verdict in ("jump", "goto"):
            if verdict in statement:
                return statement[verdict]["target"]
    return None


def verdict(expr):
    for statement in expr:
        for name in ("accept", "drop", "reject", "return", "jump", "goto"):
            if name in statement:
                return name
    return None


def _text_value(value):
    if isinstance(value, dict):
        if "set" in value:
            return "{ " + ", ".join(_text_value(v) for v in value["set"]) + " }"
        if "range" in value:
            return "-".join(_text_value(v) for v in value["range"])
        if "prefix" in value:
            return f"{value['prefix']['addr']}/{value['prefix']['len']}"
        if "payload" in value:
            payload = value["payload"]
            return f"{payload.get('protocol', '')} {payload.get('field', '')}".strip()
        if "meta" in value:
            return value["meta"]["key"]
        if "ct" in value:
            return "ct " + value["ct"]["key"]
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list):
        return ",".join(_text_value(v) for v in value)
    return str(value)


def rule_text(expr):
    """A rule in (about) nft's own words, for the evidence line."""
    words = []
    for statement in expr:
        if "match" in statement:
            match = statement["match"]
            op = "" if match["op"] in ("==", "in") else match["op"] + " "
            words.append(f"{_text_value(match['left'])} {op}{_text_value(match['right'])}")
        elif "jump" in statement or "goto" in statement:
            kind = "jump" if "jump" in statement else "goto"
            words.append(f"{kind} {statement[kind]['target']}")
        else:
            words.append(next(iter(statement)))
    return " ".join(words)


def matches(expr):
    """[(left, op, right)] of the rule's matches, left as text ("ip saddr", "tcp dport")."""
    return [(_text_value(s["match"]["left"]), s["match"]["op"], s["match"]["right"])
            for s in expr if "match" in s]


def match_of(expr, left):
    """The right side of the rule's first match on ``left`` (== or in), or None."""
    for name, op, right in matches(expr):
        if name == left and op in ("==", "in"):
            return right
    return None


def ports_of(value):
    """The set of ports or ranges of a port match, as texts ("443", "20000-20999")."""
    if isinstance(value, dict) and "set" in value:
        return {p for v in value["set"] for p in ports_of(v)}
    if isinstance(value, dict) and "range" in value:
        return {f"{value['range'][0]}-{value['range'][1]}"}
    if isinstance(value, list):
        return {p for v in value for p in ports_of(v)}
    return {str(value)}


def port_covered(port, ports):
    for item in ports:
        first, _, last = str(item).partition("-")
        if first.isdigit() and int(first) <= port <= int(last or first):
            return True
    return False


def networks_of(elements):
    """The addresses of set elements or match values, collapsed (a list of networks)."""
    nets = []

    def add(value):
        if isinstance(value, dict):
            if "elem" in value:
                add(value["elem"].get("val"))
            elif "prefix" in value:
                nets.append(ipaddress.ip_network(
                    f"{value['prefix']['addr']}/{value['prefix']['len']}", strict=False))
            elif "range" in value:
                first, last = (ipaddress.ip_address(v) for v in value["range"])
                nets.extend(ipaddress.summarize_address_range(first, last))
            elif "set" in value:
                for item in value["set"]:
                    add(item)
            return
        if isinstance(value, list):
            for item in value:
                add(item)
            return
        nets.append(ipaddress.ip_network(str(value), strict=False))

    add(elements)
    v4 = [n for n in nets if n.version == 4]
    v6 = [n for n in nets if n.version == 6]
    return list(ipaddress.collapse_addresses(v4)) + list(ipaddress.collapse_addresses(v6))


def addresses_difference(live, wanted):
    """What a set of addresses has too many and too few, as texts."""
    def spread(nets):
        return {a for n in nets for a in addresses_text([n]).split(", ")}
    have, need_ = spread(live), spread(wanted)
    parts = []
    if have - need_:
        parts.append("also " + ", ".join(sorted(have - need_, key=_address_key)))
    if need_ - have:
        parts.append("lacks " + ", ".join(sorted(need_ - have, key=_address_key)))
    return "; ".join(parts)


def _address_key(text):
    try:
        return (0, ipaddress.ip_network(text, strict=False))
    except ValueError:
        return (1, text)


def addresses_text(nets):
    """The addresses as an auditor reads them: small blocks one address at a time."""
    words = []
    for net in nets:
        if net.num_addresses <= 16:
            words += [str(a) for a in (net if net.num_addresses > 1 else [net.network_address])]
        else:
            words.append(str(net))
    return ", ".join(words) or "(none)"


# --- nftables (text of nft list ruleset) -----------------------------------------


def parse_nft_set(ruleset, name):
    """The elements of the set ``name`` in ``nft list ruleset`` (None: no such set)."""
    match = re.search(r"\bset " + re.escape(name) + r" \{(.*?)\n\s*\}", ruleset, re.DOTALL)
    if match is None:
        return None
    elements = re.search(r"elements = \{(.*?)\}", match.group(1), re.DOTALL)
    if elements is None:
        return []
    return [e.strip() for e in elements.group(1).replace("\n", " ").split(",") if e.strip()]


def port_in(spec, port):
    """Whether a port match of a rule line (``5060``, ``{ 80, 443 }``, ``10000-20000``)
    covers ``port``."""
    for part in spec.strip("{} ").split(","):
        part = part.strip()
        if "-" in part:
            first, _, last = part.partition("-")
            if first.isdigit() and last.isdigit() and int(first) <= port <= int(last):
                return True
        elif part.isdigit() and int(part) == port:
            return True
    return False


def accept_rules(ruleset, proto, port):
    """The accepting rules of the ruleset that open ``proto`` ``port``."""
    rules = []
    for line in ruleset.splitlines():
        match = re.search(proto + r" dport (\{[^}]*\}|\S+)", line)
        if match and re.search(r"\baccept\b", line) and port_in(match.group(1), port):
            rules.append(line.strip())
    return rules


def as_network(text):
    """An address or a network (a CIDR) as an ipaddress network (ValueError if neither)."""
    return ipaddress.ip_network(str(text).strip(), strict=False)


# --- units, files, TLS -------------------------------------------------------------


def unit_active(ctx, unit):
    """(whether ``unit`` is active, the evidence line)."""
    state = ctx.run("systemctl", "is-active", unit).stdout.strip() or "unknown"
    return state == "active", f"{unit} {state}"


def process_users(ctx, process):
    """The users (sorted, once each) that processes named ``process`` run as."""
    return sorted(set(ctx.run("ps", "-o", "user=", "-C", process).stdout.split()))


def expect_runs_as(ctx, unit, name, process, user):
    """State that ``unit`` runs (``name`` runs) and that its ``process`` runs as ``user``
    only."""
    ok, line = unit_active(ctx, unit)
    ctx.expect(ok, f"{name} runs", line)
    users = process_users(ctx, process)
    ctx.expect(users == [user], f"{name} runs as the user {user}",
               f"{process} processes of: {' '.join(users) or 'none'}")


def mode_line(path, info):
    """The evidence line of ``ctx.stat(path)``: "<path> 0640 root:asterisk" or missing."""
    if info is None:
        return f"{path} missing"
    return f"{path} {info['mode']} {info['user']}:{info['group']}"


def handshake_line(result):
    """The evidence line of an ``openssl s_client -brief`` handshake: its exit code and
    the lines that tell the protocol, the cipher, the verification or the error."""
    text = (result.stderr + "\n" + result.stdout).splitlines()
    keep = [line for line in text if line.startswith(("Protocol version", "Ciphersuite",
                                                      "Verification", "Peer certificate"))
            or "error" in line.lower() or "alert" in line.lower()]
    return f"rc {result.rc}: " + "; ".join(keep[:4])


def expect_private_archives(ctx, archive_dir):
    """State that the archives of people who left are private: ``archive_dir`` a folder
    0700 of root holding only tar.gz files 0600 (no folder yet passes)."""
    info = ctx.stat(archive_dir)
    if info is None:
        ctx.expect(True, "the archives are private (0700 folder, 0600 tar.gz)",
                   f"{archive_dir}: none yet")
        return
    archives = ctx.run("find", archive_dir, "-mindepth", "1", "-maxdepth", "1",
                       "-printf", "%m %u %f\n").stdout.splitlines()
    loose = [line for line in archives
             if not (line.split()[0] == "600" and line.endswith(".tar.gz"))]
    ctx.expect(info["mode"] == "0700" and info["user"] == "root" and not loose,
               "the archives are private (0700 folder, 0600 tar.gz)",
               f"{archive_dir} {info['mode']} {info['user']}; {len(archives)} archives"
               + (f"; not 0600 tar.gz: {', '.join(loose)}" if loose else ""))
