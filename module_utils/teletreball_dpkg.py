# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What dpkg says is installed: teletreball_packages (which installs what is missing) and
teletreball_host_probe (which only tells what is missing) ask it the same way."""

from __future__ import annotations

# Each line: name, tab, three letters (wanted state, status, error flag).
QUERY_FORMAT = r"${Package}\t${db:Status-Abbrev}\n"
PROVIDES_FORMAT = r"${db:Status-Abbrev}\t${Provides}\n"


def parse_query(out):
    """dpkg's status letters of each package in the output of dpkg-query; a package listed
    on several lines (one per architecture) is installed when one of them is."""
    states = {}
    for line in out.splitlines():
        name, tab, abbrev = line.partition("\t")
        if not tab:
            continue
        abbrev = abbrev.strip()
        if states.get(name, "")[1:2] != "i":
            states[name] = abbrev
    return states


def parse_provides(out):
    """The names that installed packages provide, from lines ``ABBREV<TAB>PROVIDES``
    (PROVIDES as in a control file: ``name (= version), other``)."""
    names = set()
    for line in out.splitlines():
        abbrev, tab, provides = line.partition("\t")
        if not tab or not is_installed(abbrev):
            continue
        for item in provides.split(","):
            name = item.strip().split(" ", 1)[0].split(":", 1)[0]
            if name:
                names.add(name)
    return names


def is_installed(abbrev):
    """The second letter is dpkg's status: i = installed (wanted state and error flag aside)."""
    return abbrev[1:2] == "i"


def query_states(run, dpkg_query, names):
    """dpkg's status letters of each of ``names`` (see parse_query). ``run(argv)`` returns
    (rc, out, err); a failing dpkg-query raises RuntimeError with its words."""
    rc, out, err = run([dpkg_query, "-W", f"--showformat={QUERY_FORMAT}", *names])
    # 1: some name is not known to dpkg (it says so on stderr): it is missing.
    if rc not in (0, 1):
        raise RuntimeError(f"dpkg-query failed (exit {rc}): {(err or out).strip()}")
    return parse_query(out)


def query_provided(run, dpkg_query):
    """The virtual names the installed packages provide (see parse_provides)."""
    rc, out, err = run([dpkg_query, "-W", f"--showformat={PROVIDES_FORMAT}"])
    if rc != 0:
        raise RuntimeError(f"dpkg-query failed (exit {rc}): {(err or out).strip()}")
    return parse_provides(out)


def missing_packages(run, dpkg_query, names):
    """The names of ``names`` that dpkg lists neither as installed nor as provided by an
    installed package (a virtual name such as lua5.4-unbound), in order."""
    states = query_states(run, dpkg_query, names)
    missing = [name for name in names if not is_installed(states.get(name, ""))]
    if missing:
        provided = query_provided(run, dpkg_query)
        missing = [name for name in missing if name not in provided]
    return missing
