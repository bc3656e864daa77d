#!/usr/bin/python3
# Managed by teletreball (role vdi), installed as
# /usr/local/sbin/teletreball-xrdp-check: local changes are overwritten.
"""Check an xrdp.ini or sesman.ini before it replaces the running one.

Usage: teletreball-xrdp-check xrdp|sesman FILE. Exit 0 when the file is sound,
1 with the reasons otherwise, 2 on a wrong command line. xrdp has no checker of
its own: this one refuses what would make xrdp fail at start or serve without TLS.
"""
import argparse
import configparser
import grp
import subprocess
import sys

REQUIRED = {
    "xrdp": {"Globals": ["port", "security_layer", "certificate", "key_file", "ssl_protocols"]},
    "sesman": {"Security": ["TerminalServerUsers", "AlwaysGroupCheck", "AllowRootLogin"],
               "Sessions": ["MaxSessions"]},
}


def public_key(args):
    """The public key openssl prints for args, or None when it fails."""
    # A fixed program (openssl) with its arguments as a list (no shell).
    run = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603
    return run.stdout if run.returncode == 0 else None


def duplicates(text):
    """Keys given twice in a section; "param" (the X server's arguments) repeats."""
    seen, found, section = set(), [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
            continue
        key = line.split("=", 1)[0].strip()
        if key != "param" and (section, key) in seen:
            found.append(f"{section} {key} is given twice")
        seen.add((section, key))
    return found


def check(kind, path):
    parser = configparser.ConfigParser(
        strict=False, interpolation=None, comment_prefixes=("#", ";"), delimiters=("=",))
    parser.optionxform = str
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        parser.read_string(text)
    except (OSError, configparser.Error, UnicodeDecodeError) as exc:
        return [f"{path}: {exc}"]
    problems = duplicates(text)
    problems += [
        f"[{section}] {key} is missing"
        for section, keys in REQUIRED[kind].items()
        for key in keys
        if not parser.has_option(section, key)
    ]
    if problems:
        return problems
    if kind == "xrdp":
        glob = parser["Globals"]
        if glob["security_layer"] != "tls":
            problems.append("security_layer must be tls")
        offered = [p.strip() for p in glob["ssl_protocols"].split(",")]
        if any(p in ("SSLv3", "TLSv1", "TLSv1.1") for p in offered):
            problems.append("ssl_protocols must not offer SSLv3, TLSv1 or TLSv1.1")
        cert = public_key(["openssl", "x509", "-noout", "-pubkey", "-in", glob["certificate"]])
        key = public_key(["openssl", "pkey", "-pubout", "-in", glob["key_file"]])
        if cert is None or key is None:
            problems.append(f"cannot read {glob['certificate']} or {glob['key_file']}")
        elif cert != key:
            problems.append(f"{glob['key_file']} is not the key of {glob['certificate']}")
    else:
        sec = parser["Security"]
        try:
            grp.getgrnam(sec["TerminalServerUsers"])
        except KeyError:
            problems.append(f"the group {sec['TerminalServerUsers']} does not exist")
        if sec["AllowRootLogin"].lower() not in ("false", "no", "0"):
            problems.append("AllowRootLogin must be false")
        if sec["AlwaysGroupCheck"].lower() not in ("true", "yes", "1"):
            problems.append("AlwaysGroupCheck must be true")
    return problems


def arguments(argv):
    parser = argparse.ArgumentParser(
        prog="teletreball-xrdp-check",
        description="Check an xrdp.ini or sesman.ini before it replaces the running one.")
    parser.add_argument("kind", choices=sorted(REQUIRED), help="which file FILE is")
    parser.add_argument("file", help="the candidate file")
    return parser.parse_args(argv)


def main(argv=None):
    args = arguments(argv)
    problems = check(args.kind, args.file)
    for problem in problems:
        print(f"{args.file}: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
