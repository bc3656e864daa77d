#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: Debian packages present, with one dpkg-query when nothing is missing."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_packages
short_description: Install the Debian packages that are missing, checking all with one dpkg-query
description:
  - Makes sure every package of O(names) is installed. It asks dpkg about all of them
    with one C(dpkg-query -W) and, when each one is installed, returns at once without
    running apt at all. C(ansible.builtin.apt) opens the whole apt cache with python-apt
    even when there is nothing to do, which is slow on a small host.
  - When some are missing, it runs C(apt-get update) first if the package lists are
    absent or older than O(update_cache_max_age) (or older than an apt source file),
    then one C(apt-get install) of the missing packages only, without questions
    (C(DEBIAN_FRONTEND=noninteractive)) and keeping the configuration files already on
    the host (C(--force-confdef), C(--force-confold)).
  - After installing, it asks dpkg again and fails if a package is still not installed
    (see the notes about virtual packages).
  - A package is installed when dpkg's status of it is C(installed), whatever the
    wanted state (C(ii), or C(hi) for a package on hold). Any other status (not known
    to dpkg, removed with its configuration left C(rc), half installed, half
    configured, unpacked...) counts as missing, and C(apt-get install) completes it.
options:
  names:
    description:
      - Debian package names, such as C(nginx), or C(name/release) to take that package
        from that release, such as C(debhelper/trixie-backports) (dpkg is asked about the
        name, apt gets the whole string).
      - No version (C(name=version)), architecture (C(name:arch)) or pattern.
    type: list
    elements: str
    required: true
  state:
    description:
      - Only C(present). The suite installs packages, it never upgrades them in a play
        (the hosts' C(unattended-upgrades) installs the security updates) and never
        removes them (a package of a role is not removed by a later run without it).
        An installed package is therefore left alone whatever its version.
    type: str
    choices: [present]
    default: present
  install_recommends:
    description: Install the packages' recommended packages too (C(--install-recommends));
      by default they are not (C(--no-install-recommends)).
    type: bool
    default: false
  update_cache_max_age:
    description:
      - Seconds. When a package is missing, C(apt-get update) runs before installing if
        the host has no package list, or if its last update is older than this, or older
        than a file of C(/etc/apt/sources.list) or C(/etc/apt/sources.list.d/) (a source
        added since). C(0) updates before every install.
      - The last update is the newest of the modification time of
        C(/var/lib/apt/lists/) and of C(/var/lib/apt/periodic/update-success-stamp),
        which the module touches after each update it runs (Debian's apt does not,
        Ubuntu's does, and C(ansible.builtin.apt) reads it).
      - Nothing is updated when no package is missing.
    type: int
    default: 3600
  default_release:
    description: The release to take the packages from (C(apt-get -t)), such as
      C(trixie-backports). It also applies to their dependencies; the C(name/release)
      form of O(names) does not.
    type: str
  lock_timeout:
    description: Seconds apt waits for the dpkg and lists locks held by another apt
      (C(unattended-upgrades), the daily apt timers) before failing
      (C(DPkg::Lock::Timeout)).
    type: int
    default: 120
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Only C(dpkg-query) runs. RV(installed) lists the packages that would be
      installed and RV(cache_updated) whether the lists would be updated first.
  diff_mode:
    support: full
    details: Lists the packages missing before and after, with dpkg's status of each.
notes:
  - Supports check mode and diff mode. In check mode only C(dpkg-query) runs;
    RV(installed) lists the packages that would be installed, RV(cache_updated) whether
    the lists would be updated first. The diff lists the packages missing before and
    after, with dpkg's status of each.
  - A virtual package (such as C(mail-transport-agent)) is never installed under its
    own name, so it would be missing at every run; the module fails after installing
    it. Name the real package that provides it.
  - Packages are never upgraded, downgraded or removed. An installed package listed as
    C(name/release) is left as it is even when it came from another release.
requirements:
  - dpkg-query and apt-get on the host (every Debian host).
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Install WireGuard
  teletreball_packages:
    names: [wireguard-tools, nftables]

- name: Install the build tools from backports, the rest from the release
  teletreball_packages:
    names: [devscripts, debhelper/trixie-backports]
    update_cache_max_age: 0
"""

RETURN = r"""
installed:
  description: The entries of O(names) that were installed (or would be, in check mode),
    as written in O(names). Empty when apt fails.
  returned: always
  type: list
  elements: str
  sample: [wireguard-tools, debhelper/trixie-backports]
missing:
  description: The entries of O(names) that dpkg did not list as installed before this
    call, as written in O(names). Also returned when apt fails.
  returned: always
  type: list
  elements: str
cache_updated:
  description: Whether C(apt-get update) ran (or would run, in check mode).
  returned: always
  type: bool
apt_rc:
  description: Exit status of the apt-get that failed.
  returned: when apt-get failed
  type: int
apt_stderr:
  description: The last lines of the standard error of the apt-get that failed (its
    standard output when that was empty).
  returned: when apt-get failed
  type: str
"""

import glob
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_dpkg import (
    is_installed,
    query_provided,
    query_states,
)

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")  # Debian policy 5.6.1
RELEASE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+~_-]*$")
LISTS_DIR = "/var/lib/apt/lists"
STAMP = "/var/lib/apt/periodic/update-success-stamp"
SOURCES = ("/etc/apt/sources.list", "/etc/apt/sources.list.d")
TAIL_LINES = 20
ENVIRONMENT = {
    "LC_ALL": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
    "APT_LISTCHANGES_FRONTEND": "none",
    "APT_LISTBUGS_FRONTEND": "none",
}


class Problem(Exception):
    pass


def parse_names(names):
    """``[(name, entry)]`` in order, identical entries once; Problem listing every bad one."""
    problems, wanted, seen = [], [], {}
    for entry in names:
        name, slash, release = entry.partition("/")
        if not NAME_RE.fullmatch(name) or (slash and not RELEASE_RE.fullmatch(release)):
            problems.append(f"'{entry}' is not a Debian package name or name/release.")
            continue
        if name in seen:
            if seen[name] != entry:
                problems.append(f"'{name}' is listed twice, as '{seen[name]}' and '{entry}'.")
            continue
        seen[name] = entry
        wanted.append((name, entry))
    if problems:
        raise Problem(" ".join(problems))
    return wanted


def listing(missing):
    """The diff's text: each package with dpkg's status letters."""
    return "".join(f"{entry} ({abbrev.strip() or 'not known to dpkg'})\n"
                   for _, entry, abbrev in missing)


def tail(text):
    return "\n".join(text.strip().splitlines()[-TAIL_LINES:])


class Packages:
    def __init__(self, module, wanted):
        self.module = module
        self.wanted = wanted
        self.params = module.params
        self.result = {"changed": False, "installed": [], "missing": [],
                       "cache_updated": False}

    def run(self, argv):
        return self.module.run_command(
            argv, environ_update=ENVIRONMENT, expand_user_and_vars=False
        )

    def fail(self, msg, **extra):
        self.result.update(extra)
        self.module.fail_json(msg=msg, **self.result)

    def missing(self):
        """``[(name, entry, abbrev)]`` of the packages dpkg does not list as installed."""
        names = [name for name, _ in self.wanted]
        dpkg_query = self.module.get_bin_path("dpkg-query", required=True)
        try:
            states = query_states(self.run, dpkg_query, names)
            missing = [
                (name, entry, states.get(name, ""))
                for name, entry in self.wanted
                if not is_installed(states.get(name, ""))
            ]
            if missing:
                # A virtual name (such as lua5.4-unbound) is never installed under its own
                # name: it is there when an installed package provides it.
                provided = query_provided(self.run, dpkg_query)
                missing = [item for item in missing if item[0] not in provided]
        except RuntimeError as exc:
            self.fail(tail(str(exc)))
        return missing

    def cache_is_stale(self):
        if not glob.glob(os.path.join(LISTS_DIR, "*_Packages*")):
            return True
        updated = 0.0
        for path in (LISTS_DIR, STAMP):
            try:
                updated = max(updated, os.stat(path).st_mtime)
            except OSError:
                pass
        if time.time() - updated > self.params["update_cache_max_age"]:
            return True
        sources = [SOURCES[0]] + glob.glob(os.path.join(SOURCES[1], "*"))
        for path in sources:
            try:
                if os.stat(path).st_mtime > updated:
                    return True
            except OSError:
                pass
        return False

    def apt_get(self, *args):
        apt_get = self.module.get_bin_path("apt-get", required=True)
        lock = ["-o", f"DPkg::Lock::Timeout={self.params['lock_timeout']}"]
        return self.run([apt_get, *args[:1], "-q", *lock, *args[1:]])

    def update(self):
        rc, out, err = self.apt_get("update")
        if rc != 0:
            self.fail(f"apt-get update failed (exit {rc}) before installing "
                      f"{', '.join(self.result['missing'])}:\n{tail(err or out)}",
                      apt_rc=rc, apt_stderr=tail(err or out))
        if os.path.isdir(os.path.dirname(STAMP)):
            try:
                with open(STAMP, "a", encoding="utf-8"):
                    pass
                os.utime(STAMP)
            except OSError as exc:
                self.module.warn(f"Cannot touch {STAMP}: {exc}")

    def install(self, entries):
        args = [
            "install", "-y",
            "--install-recommends" if self.params["install_recommends"]
            else "--no-install-recommends",
            "-o", "Dpkg::Options::=--force-confdef",
            "-o", "Dpkg::Options::=--force-confold",
        ]
        if self.params["default_release"]:
            args += ["-t", self.params["default_release"]]
        rc, out, err = self.apt_get(*args, *entries)
        if rc != 0:
            self.fail(f"apt-get install failed (exit {rc}) for {', '.join(entries)}:\n"
                      f"{tail(err or out)}", apt_rc=rc, apt_stderr=tail(err or out))

    def main(self):
        missing = self.missing() if self.wanted else []
        entries = [entry for _, entry, _ in missing]
        self.result["missing"] = entries
        after = []
        if missing and self.module.check_mode:
            self.result.update(changed=True, installed=entries,
                               cache_updated=self.cache_is_stale())
        elif missing:
            if self.cache_is_stale():
                self.update()
                self.result["cache_updated"] = True
            self.result["changed"] = True  # also when apt fails: it may have done part of it
            self.install(entries)
            after = self.missing()
            left = [entry for _, entry, _ in after]
            self.result["installed"] = [entry for entry in entries if entry not in left]
            if after:
                self.fail(
                    f"apt-get install succeeded but dpkg lists neither these packages nor a "
                    f"package providing them: {', '.join(left)}."
                )
        if self.module._diff:
            header = "packages not installed"
            self.result["diff"] = {"before_header": header, "after_header": header,
                                   "before": listing(missing), "after": listing(after)}
        self.module.exit_json(**self.result)


def main():
    module = AnsibleModule(
        argument_spec={
            "names": {"type": "list", "elements": "str", "required": True},
            "state": {"type": "str", "choices": ["present"], "default": "present"},
            "install_recommends": {"type": "bool", "default": False},
            "update_cache_max_age": {"type": "int", "default": 3600},
            "default_release": {"type": "str"},
            "lock_timeout": {"type": "int", "default": 120},
        },
        supports_check_mode=True,
    )
    params = module.params
    problems = []
    try:
        wanted = parse_names(params["names"])
    except Problem as exc:
        problems.append(str(exc))
    release = params["default_release"]
    if release is not None and not RELEASE_RE.fullmatch(release):
        problems.append(f"default_release '{release}' is not a release name.")
    for key in ("update_cache_max_age", "lock_timeout"):
        if params[key] < 0:
            problems.append(f"{key} must be 0 or more seconds, not {params[key]}.")
    if problems:
        module.fail_json(msg="teletreball_packages: " + " ".join(problems), changed=False,
                         installed=[], missing=[], cache_updated=False)
    Packages(module, wanted).main()


if __name__ == "__main__":
    main()
