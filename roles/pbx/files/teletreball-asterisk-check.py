#!/usr/bin/python3
# Managed by teletreball (role pbx), installed as
# /usr/local/sbin/teletreball-asterisk-check: local changes are overwritten.
"""Check an Asterisk configuration file before it replaces the running one.

Asterisk has no offline configuration checker; a file it cannot parse is
loaded only in part on reload. This script refuses what would go wrong:
lines that are not a section, an option or an #include; #exec; options
before the first section; includes that do not exist; in pjsip.conf, objects
without a known type, duplicate object names of one type and references to
auths or AORs that are not defined (in the file or its includes); in
extensions.conf, unbalanced brackets and priorities out of order.

Usage: teletreball-asterisk-check --config-dir DIR KIND FILE   (KIND: generic, pjsip, extensions)
DIR is Asterisk's configuration folder (/etc/asterisk), where relative
#include targets are looked up.
Exit status 0 when the file is good; 1 with one line per problem otherwise;
2 on a wrong command line.
"""
import argparse
import os
import re
import sys

KINDS = ("generic", "pjsip", "extensions")
SECTION = re.compile(r"^\[([^\]\s]+)\](\((!|[^)]*)\))?$")
OPTION = re.compile(r"^([A-Za-z0-9_.\-/]+)\s*(=>|=)\s*(.*)$")
INCLUDE = re.compile(r'^#include\s+"?([^"]+)"?$')
PJSIP_TYPES = {
    "global", "system", "transport", "endpoint", "aor", "auth", "identify",
    "registration", "domain_alias", "acl", "contact", "outbound-publish",
    "inbound-publishment", "resource_list", "phoneprov",
}


def strip_comment(line):
    out, escaped = [], False
    for ch in line:
        if ch == ";" and not escaped:
            break
        escaped = ch == "\\" and not escaped
        out.append(ch)
    return "".join(out).strip()


def parse(path, problems, config_dir, seen=None):
    """Return [(section, template_marker, [(key, value, where)])].

    Relative #include targets are looked up in config_dir."""
    seen = seen or set()
    real = os.path.realpath(path)
    if real in seen:
        problems.append(f"{path}: included twice (loop)")
        return []
    seen.add(real)
    sections = []
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        problems.append(f"{path}: cannot read: {err}")
        return []
    for number, raw in enumerate(lines, 1):
        where = f"{os.path.basename(path)}:{number}"
        line = strip_comment(raw)
        if not line:
            continue
        if line.startswith("#exec"):
            problems.append(f"{where}: #exec runs programs; not allowed")
            continue
        match = INCLUDE.match(line)
        if match:
            target = match.group(1)
            if not os.path.isabs(target):
                target = os.path.join(config_dir, target)
            if not os.path.exists(target):
                problems.append(f"{where}: included file {target} does not exist")
                continue
            sections.extend(parse(target, problems, config_dir, seen))
            continue
        match = SECTION.match(line)
        if match:
            sections.append((match.group(1), match.group(3) or "", []))
            continue
        match = OPTION.match(line)
        if match:
            if not sections:
                problems.append(f"{where}: option outside any [section]")
                continue
            sections[-1][2].append((match.group(1), match.group(3).strip(), where))
            continue
        problems.append(f"{where}: not a section, option or #include: {line!r}")
    return sections


def check_pjsip(sections, problems):
    templates = {name: options for name, marker, options in sections if marker == "!"}
    objects = {}
    for name, marker, options in sections:
        if marker == "!":
            continue
        merged = []
        for parent in [p.strip() for p in marker.split(",") if p.strip()]:
            if parent not in templates:
                problems.append(f"[{name}]: template ({parent}) is not defined")
            merged += templates.get(parent, [])
        merged += options
        types = [value for key, value, _ in merged if key == "type"]
        if not types:
            problems.append(f"[{name}]: no type")
            continue
        kind = types[-1]
        if kind not in PJSIP_TYPES:
            problems.append(f"[{name}]: unknown type '{kind}'")
        if (kind, name) in objects:
            problems.append(f"[{name}]: a second {kind} of this name")
        objects[(kind, name)] = merged
    for (kind, name), options in objects.items():
        if kind != "endpoint":
            continue
        for key, value, where in options:
            wanted = {"auth": "auth", "outbound_auth": "auth", "aors": "aor"}.get(key)
            if wanted is None:
                continue
            for ref in [r.strip() for r in value.split(",") if r.strip()]:
                if (wanted, ref) not in objects:
                    problems.append(f"{where}: endpoint {name}: {key} '{ref}' is not defined")


def check_extensions(sections, problems):
    for name, _marker, options in sections:
        if name in ("general", "globals"):
            continue
        last = {}
        for key, value, where in options:
            if key not in ("exten", "same", "include", "switch", "ignorepat"):
                problems.append(f"{where}: [{name}]: unknown keyword '{key}'")
                continue
            if value.count("(") != value.count(")"):
                problems.append(f"{where}: unbalanced brackets: {value}")
            if value.count("${") > value.count("}") or value.count("$[") > value.count("]"):
                problems.append(f"{where}: unclosed ${{...}} or $[...]: {value}")
            if key == "exten":
                parts = value.split(",", 2)
                if len(parts) < 3:
                    problems.append(f"{where}: exten needs extension,priority,application")
                    continue
                ext, prio = parts[0].strip(), parts[1].strip().split("(")[0]
                if prio.isdigit():
                    if prio != "1" and last.get(ext) != int(prio) - 1:
                        problems.append(f"{where}: priority {prio} of {ext} does not follow")
                    last[ext] = int(prio)
                elif prio != "n":
                    problems.append(f"{where}: priority '{prio}' of {ext}")


def arguments(argv):
    parser = argparse.ArgumentParser(
        prog="teletreball-asterisk-check",
        description="Check an Asterisk configuration file before it replaces the running one.")
    parser.add_argument("--config-dir", required=True,
                        help="Asterisk's configuration folder, for relative #include targets")
    parser.add_argument("kind", choices=KINDS, help="the checks to run on top of the syntax")
    parser.add_argument("file", help="the candidate file")
    return parser.parse_args(argv)


def main(argv=None):
    args = arguments(argv)
    problems = []
    sections = parse(args.file, problems, args.config_dir)
    if args.kind == "pjsip":
        check_pjsip(sections, problems)
    elif args.kind == "extensions":
        check_extensions(sections, problems)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
