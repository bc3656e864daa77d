#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: prove that built .deb files install on a plain host of the target release."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_deb_installable
short_description: Prove that .deb files can be installed on a plain host of a Debian release
description:
  - The council's repository serves packages rebuilt from a newer Debian suite. A
    build that took a library from backports (or anywhere but the release the hosts
    run) makes binaries that depend on it, and the hosts cannot install them. This
    module finds that out before the packages are cached or published.
  - It makes a private, empty apt root in a temporary folder; its only sources are
    the target release (by default the host's own apt sources of O(release),
    O(release)-updates and O(release)-security, nothing else, no backports, no
    other repository) and a flat repository of the given .deb files. Its package
    state is empty and no preference of the host applies. Then, for every .deb,
    C(apt-get install --simulate) of that exact version must succeed.
  - Nothing of the host changes (the temporary folder is removed), so it never
    reports C(changed), and runs the same in check mode.
  - When a package cannot be installed, the module fails and names the package and
    apt's unmet dependency, unless O(fail) is false; RV(problems) lists them either way.
options:
  packages:
    description: Paths of the .deb files on the host, all that will be published together.
    type: list
    elements: path
    required: true
  release:
    description: Codename of the Debian release the hosts run, for example C(trixie).
    type: str
    required: true
  suites:
    description:
      - Suites of the release that a plain host uses. Default C(<release>),
        C(<release>-updates) and C(<release>-security).
    type: list
    elements: str
  sources:
    description:
      - One-line apt sources (C(deb URI SUITE COMPONENT...)) of the release. Default the
        entries of the host's own apt sources whose suite is one of O(suites) (from
        C(apt-get indextargets)).
    type: list
    elements: str
  tmpdir:
    description: Folder in which the temporary apt root is made.
    type: path
    default: /var/tmp
  fail:
    description: Fail when a package cannot be installed. With C(false) the result tells it instead.
    type: bool
    default: true
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Nothing of the host changes, so it runs the same in check mode.
  diff_mode:
    support: none
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Prove the packages of the build install on a plain trixie host
  teletreball_deb_installable:
    packages:
      - /var/tmp/build/asterisk_22.10.1-1~tt13+1_amd64.deb
      - /var/tmp/build/asterisk-modules_22.10.1-1~tt13+1_amd64.deb
    release: trixie
"""

RETURN = r"""
installable:
  description: Whether every package can be installed.
  returned: always
  type: bool
checked:
  description: The packages checked, as C(name=version).
  returned: always
  type: list
  elements: str
sources:
  description: The release's sources the check used.
  returned: always
  type: list
  elements: str
problems:
  description: One entry per package that cannot be installed, with apt's unmet dependencies.
  returned: always
  type: list
  elements: dict
  sample:
    - package: asterisk-modules
      version: "1:22.10.1+dfsg+~cs6.17.60671434-1~tt13+1"
      file: asterisk-modules_22.10.1+dfsg+~cs6.17.60671434-1~tt13+1_amd64.deb
      unmet: ["asterisk-modules : Depends: libxml2-16 (>= 2.14.1) but it is not installable"]
"""

import hashlib
import os
import re
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

INDEXTARGETS_FORMAT = "$(CREATED_BY)\t$(TARGET_OF)\t$(REPO_URI)\t$(RELEASE)\t$(COMPONENT)"


def default_suites(release):
    return [release, f"{release}-updates", f"{release}-security"]


def release_sources(indextargets, suites):
    """One-line sources of the binary indexes in ``indextargets`` (apt-get indextargets
    output in INDEXTARGETS_FORMAT) whose suite is in ``suites``, in a stable order."""
    components = {}
    for line in indextargets.splitlines():
        fields = line.split("\t")
        if len(fields) != 5 or fields[0] != "Packages" or fields[1] != "deb":
            continue
        _, _, uri, suite, component = fields
        if suite in suites and component:
            components.setdefault((uri, suite), set()).add(component)
    return [
        f"deb {uri} {suite} {' '.join(sorted(comps))}"
        for (uri, suite), comps in sorted(components.items())
    ]


def source_suite(line):
    """The suite of a one-line apt source (``deb [options] URI SUITE COMPONENT...``)."""
    words = re.sub(r"^(deb)\s+\[[^]]*\]", r"\1", line.strip()).split()
    return words[2] if len(words) > 2 and words[0] == "deb" else ""


def parse_control(text):
    """The fields of one control paragraph (``dpkg-deb -f`` output) as a dict."""
    fields, key = {}, None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip()
            fields[key] = value.strip()
    return fields


def unmet_lines(output):
    """apt's explanation of why an install is impossible, one line per unmet
    dependency (with the package it belongs to), from ``apt-get -s install`` output."""
    lines, inside, owner = [], False, ""
    for raw in output.splitlines():
        if re.match(r"^The following packages have unmet dependencies:", raw) or raw.startswith(
            "Unsatisfied dependencies:"
        ):
            inside = True
            continue
        if not inside:
            continue
        if raw.startswith(("E:", "W:", "N:")) or not raw.strip():
            inside = False
            continue
        match = re.match(r"^\s*(\S+) : (.*)$", raw)
        if match:
            owner = match.group(1)
            lines.append(f"{owner} : {match.group(2).strip()}")
        elif owner:
            lines.append(f"{owner} : {raw.strip()}")
    if not lines:
        lines = [raw.strip() for raw in output.splitlines() if raw.startswith("E:")]
    return lines


def packages_stanza(fields, filename, path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    body = "".join(f"{key}: {value}\n" for key, value in fields.items())
    return (
        f"{body}Filename: ./{filename}\nSize: {os.path.getsize(path)}\n"
        f"SHA256: {digest.hexdigest()}\n\n"
    )


class Checker:
    def __init__(self, module, root):
        self.module = module
        self.root = root
        self.apt_get = module.get_bin_path("apt-get", required=True)
        self.options = []
        for key, value in (
            ("Dir::Etc::SourceList", "sources.list"),
            ("Dir::Etc::SourceParts", "sources.list.d"),
            ("Dir::Etc::Preferences", "preferences"),
            ("Dir::Etc::PreferencesParts", "preferences.d"),
            ("Dir::State::Lists", "lists"),
            ("Dir::State::status", "status"),
            ("Dir::State::extended_states", "extended_states"),
            ("Dir::Cache", "cache"),
        ):
            self.options += ["-o", f"{key}={os.path.join(root, value)}"]
        self.options += [
            "-o",
            "Acquire::Languages=none",
            "-o",
            "APT::Sandbox::User=root",
            "-o",
            "APT::Get::List-Cleanup=false",
        ]
        for folder in (
            "sources.list.d",
            "preferences.d",
            "lists/partial",
            "cache/archives/partial",
            "candidates",
        ):
            os.makedirs(os.path.join(root, folder))
        open(os.path.join(root, "status"), "w", encoding="utf-8").close()

    def run(self, *args):
        return self.module.run_command(
            [self.apt_get] + self.options + list(args),
            environ_update={"LC_ALL": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"},
        )

    def prepare(self, sources, candidates):
        with open(
            os.path.join(self.root, "candidates", "Packages"), "w", encoding="utf-8"
        ) as index:
            for item in candidates:
                target = os.path.join(self.root, "candidates", item["file"])
                os.symlink(item["path"], target)
                index.write(packages_stanza(item["fields"], item["file"], item["path"]))
        # Only simulated: nothing of these sources is ever installed.
        lines = [
            re.sub(r"^deb\s+(?!\[)", "deb [trusted=yes] ", source.strip()) for source in sources
        ]
        lines.append(f"deb [trusted=yes] file:{os.path.join(self.root, 'candidates')} ./")
        with open(os.path.join(self.root, "sources.list"), "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        rc, out, err = self.run("update")
        # (apt's file: method reports an "Err:" for each compressed name it tries
        # before the plain Packages; what counts is an E: or a failed fetch.)
        errors = [
            line
            for line in (out + "\n" + err).splitlines()
            if line.startswith("E:") or "Failed to fetch" in line
        ]
        if rc != 0 or errors:
            self.module.fail_json(
                msg="Cannot read the package lists of the release for the installability check: "
                + ("; ".join(errors) or err.strip() or out.strip()),
                sources=sources,
            )

    def check(self, item):
        rc, out, err = self.run(
            "install",
            "--simulate",
            "--no-install-recommends",
            "-q",
            f"{item['name']}={item['version']}",
        )
        if rc == 0:
            return None
        return {
            "package": item["name"],
            "version": item["version"],
            "file": item["file"],
            "unmet": unmet_lines(out + "\n" + err) or [err.strip() or out.strip()],
        }


def read_candidates(module, paths):
    dpkg_deb = module.get_bin_path("dpkg-deb", required=True)
    candidates, names = [], {}
    for path in paths:
        if not os.path.isfile(path):
            module.fail_json(msg=f"{path} is not a file: nothing to check.")
        rc, out, err = module.run_command([dpkg_deb, "--field", path])
        if rc != 0:
            module.fail_json(msg=f"{path} is not a Debian package: {err.strip()}")
        fields = parse_control(out)
        if not fields.get("Package") or not fields.get("Version"):
            module.fail_json(msg=f"{path} has no Package or Version field.")
        if fields["Package"] in names:
            module.fail_json(
                msg=f"{path} and {names[fields['Package']]} are both the package "
                f"{fields['Package']}: give one version of each package."
            )
        names[fields["Package"]] = path
        candidates.append(
            {
                "name": fields["Package"],
                "version": fields["Version"],
                "file": os.path.basename(path),
                "path": os.path.abspath(path),
                "fields": fields,
            }
        )
    return candidates


def main():
    module = AnsibleModule(
        argument_spec={
            "packages": {"type": "list", "elements": "path", "required": True},
            "release": {"type": "str", "required": True},
            "suites": {"type": "list", "elements": "str"},
            "sources": {"type": "list", "elements": "str"},
            "tmpdir": {"type": "path", "default": "/var/tmp"},  # noqa: S108 (mkdtemp inside)
            "fail": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not re.match(r"^[a-z][a-z0-9-]*$", params["release"]):
        module.fail_json(
            msg=f"release must be a Debian codename such as trixie, not {params['release']!r}."
        )
    if not params["packages"]:
        module.fail_json(msg="packages is empty: give the .deb files to check.")
    suites = params["suites"] or default_suites(params["release"])
    sources = params["sources"]
    if sources is None:
        rc, out, err = module.run_command(
            [
                module.get_bin_path("apt-get", required=True),
                "indextargets",
                "--format",
                INDEXTARGETS_FORMAT,
            ]
        )
        if rc != 0:
            module.fail_json(msg=f"apt-get indextargets failed: {err.strip()}")
        sources = release_sources(out, suites)
    if not any(source_suite(source) == params["release"] for source in sources):
        module.fail_json(
            msg=f"No apt source of the release {params['release']} itself "
            f"(suites {', '.join(suites)}): "
            "the check needs the release's own index; set sources, or fix the host's apt sources.",
            sources=sources,
        )
    candidates = read_candidates(module, params["packages"])
    root = tempfile.mkdtemp(prefix="teletreball-installable.", dir=params["tmpdir"])
    try:
        checker = Checker(module, root)
        checker.prepare(sources, candidates)
        problems = [p for p in (checker.check(item) for item in candidates) if p]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result = {
        "changed": False,
        "installable": not problems,
        "checked": [f"{item['name']}={item['version']}" for item in candidates],
        "sources": sources,
        "problems": problems,
    }
    if problems and params["fail"]:
        details = "; ".join(
            f"{p['package']} {p['version']}: {' / '.join(p['unmet'])}" for p in problems
        )
        module.fail_json(
            msg=(
                f"{len(problems)} of {len(candidates)} packages cannot be installed on a plain "
                f"{params['release']} host (sources: {', '.join(suites)}): {details}"
            ),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
