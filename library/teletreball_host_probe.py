#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: what the baseline needs to know about a host, read in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_host_probe
short_description: Read what the hardened baseline needs to know about a host, in one call
description:
  - Reads, without changing anything, the few facts about the host that the role
    C(baseline) decides on, in one module run instead of one per question.
  - Whether the host is a container (C(systemd-detect-virt --container)). A container
    has no kernel audit, no clock and no kernel parameters of its own.
  - Whether the running kernel's parameters can be set from this host (C(/proc/sys)
    is writable; in a container it is read-only).
  - The setuid and setgid programs under O(privileged_search_paths), as
    C(find PATH... -xdev -type f -perm /6000) lists them, for the audit rules (BL-LOG-01).
  - The modification time of dpkg's status file, so that a later play can tell whether
    a package was installed or removed since this probe (and look for privileged
    programs again only then).
  - Which of O(packages) are not installed, asked of dpkg as C(teletreball_packages)
    asks it, so that the role runs its package task only when one is missing.
  - The distribution facts the roles read, as C(ansible.builtin.setup) names them
    (RV(ansible_facts)), from C(/etc/os-release) and C(/etc/debian_version), so that the
    plays need not gather facts. On a host that is not Debian only these are read, so
    the caller can refuse it with a clear message.
  - The address of the SSH client of the connection (C(SSH_CLIENT)), which the
    baseline's firewall must not lock out.
options:
  packages:
    description:
      - Debian package names (no release, version or architecture). RV(missing_packages)
        lists those that dpkg lists neither as installed nor as provided by an installed
        package.
    type: list
    elements: str
    default: []
  privileged_search_paths:
    description:
      - Absolute paths of the folders where setuid and setgid programs are looked for.
        The search stays on the file system of each (C(-xdev)). A path that does not
        exist is left out.
      - Empty, no search is made and RV(privileged_programs) is empty.
    type: list
    elements: path
    default: []
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: It changes nothing, so it runs the same in check mode.
  diff_mode:
    support: none
notes:
  - Supports check mode (it changes nothing, so it runs the same) and never reports a change.
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Find out what the baseline needs to know about the host
  teletreball_host_probe:
    privileged_search_paths: [/usr, /bin, /sbin, /opt]
    packages: [openssh-server, nftables, auditd]
  register: _baseline_probe

- name: Install what is missing (one dpkg-query above, apt only now)
  teletreball_packages:
    names: [openssh-server, nftables, auditd]
  when: _baseline_probe.missing_packages | length > 0

- name: Set the kernel parameters only where the host can
  ansible.posix.sysctl:
    name: net.ipv4.ip_forward
    value: "0"
  when: _baseline_probe.kernel_parameters_writable
"""

RETURN = r"""
container:
  description: Whether the host runs in a container.
  returned: always
  type: bool
  sample: true
container_type:
  description: What C(systemd-detect-virt --container) names (C(none) outside a container).
  returned: always
  type: str
  sample: podman
kernel_parameters_writable:
  description: Whether C(/proc/sys) can be written (the kernel's parameters can be set live).
  returned: always
  type: bool
  sample: false
privileged_programs:
  description: The setuid and setgid programs found, sorted, each once.
  returned: always
  type: list
  elements: str
  sample: [/usr/bin/passwd, /usr/bin/sudo]
missing_packages:
  description: The names of O(packages) that are not installed, in their order.
  returned: always
  type: list
  elements: str
  sample: [auditd]
dpkg_status_mtime:
  description: Modification time of C(/var/lib/dpkg/status) (seconds since the epoch), 0 without it.
  returned: always
  type: float
  sample: 1796579268.98
ssh_client:
  description: The address of the SSH client of this connection (first field of
    C(SSH_CLIENT)), empty when the connection is not SSH.
  returned: always
  type: str
  sample: 192.0.2.10
ansible_facts:
  description: The distribution facts, named as C(ansible.builtin.setup) names them.
  returned: always
  type: dict
  contains:
    distribution:
      description: C(Debian) on Debian (C(NAME) of C(/etc/os-release) otherwise).
      type: str
      sample: Debian
    distribution_version:
      description: C(/etc/debian_version) on Debian when it is a number, else C(VERSION_ID).
      type: str
      sample: "13.2"
    distribution_major_version:
      description: The part of RV(ansible_facts.distribution_version) before the first dot.
      type: str
      sample: "13"
    distribution_release:
      description: C(VERSION_CODENAME) of C(/etc/os-release).
      type: str
      sample: trixie
"""

import os
import re
import shlex

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_dpkg import missing_packages

DPKG_STATUS = "/var/lib/dpkg/status"
OS_RELEASE = ("/etc/os-release", "/usr/lib/os-release")
DEBIAN_VERSION = "/etc/debian_version"
PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")  # Debian policy 5.6.1
PROC_SYS_PROBE = "/proc/sys/net/ipv4/ip_forward"


def container_type(module):
    """What systemd-detect-virt --container names; 'none' outside a container.

    It exits 1 (printing 'none') outside a container; any other failure is an error."""
    detect = module.get_bin_path("systemd-detect-virt", required=True)
    rc, out, err = module.run_command([detect, "--container"], expand_user_and_vars=False)
    name = out.strip()
    if rc == 0 and name:
        return name
    if rc == 1:
        return "none"
    module.fail_json(msg=f"systemd-detect-virt --container failed (exit {rc}): "
                         f"{(err or out).strip()}")
    return "none"  # not reached


def privileged_programs(module, paths):
    """The setuid and setgid regular files under the paths that exist, on their own
    file systems, sorted and unique."""
    paths = [path for path in paths if os.path.isdir(path)]
    if not paths:
        return []
    find = module.get_bin_path("find", required=True)
    rc, out, err = module.run_command([find, *paths, "-xdev", "-type", "f", "-perm", "/6000"],
                                      expand_user_and_vars=False)
    if rc != 0:
        module.fail_json(msg=f"find of the setuid and setgid programs failed (exit {rc}): "
                             f"{(err or out).strip()}")
    return sorted({line for line in out.splitlines() if line})


def missing(module, names):
    if not names:
        return []
    dpkg_query = module.get_bin_path("dpkg-query", required=True)

    def run(argv):
        return module.run_command(argv, environ_update={"LC_ALL": "C.UTF-8"},
                                  expand_user_and_vars=False)

    try:
        return missing_packages(run, dpkg_query, names)
    except RuntimeError as exc:
        module.fail_json(msg=str(exc))
    return []  # not reached


def read_text(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return ""


def os_release(text):
    """The KEY=value pairs of an os-release file (values unquoted as a shell would)."""
    pairs = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Z0-9_]+", key.strip()):
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            continue
        pairs[key.strip()] = words[0] if words else ""
    return pairs


def distribution_facts(release_text, debian_version_text):
    """The facts of ansible.builtin.setup's distribution collector that the roles read."""
    release = os_release(release_text)
    debian = release.get("ID") == "debian"
    name = "Debian" if debian else release.get("NAME", "") or "unknown"
    number = debian_version_text.strip()
    version = number if debian and re.match(r"^[0-9]", number) else release.get("VERSION_ID", "")
    return {
        "distribution": name,
        "distribution_version": version,
        "distribution_major_version": version.split(".")[0],
        "distribution_release": release.get("VERSION_CODENAME", ""),
    }


def mtime(path):
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def main():
    module = AnsibleModule(
        argument_spec={
            "privileged_search_paths": {"type": "list", "elements": "path", "default": []},
            "packages": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    paths = module.params["privileged_search_paths"]
    relative = [path for path in paths if not os.path.isabs(path)]
    if relative:
        module.fail_json(msg="privileged_search_paths must be absolute paths: "
                             f"{', '.join(relative)}")
    bad = [name for name in module.params["packages"] if not PACKAGE_RE.fullmatch(name)]
    if bad:
        module.fail_json(msg=f"packages: not Debian package names: {', '.join(bad)}")
    facts = distribution_facts(
        next((text for text in map(read_text, OS_RELEASE) if text), ""), read_text(DEBIAN_VERSION))
    client = (os.environ.get("SSH_CLIENT") or "").split(" ")[0]
    if facts["distribution"] != "Debian":
        # Nothing else is read: the caller refuses the host with its own message.
        module.exit_json(changed=False, ansible_facts=facts, ssh_client=client, container=False,
                         container_type="unknown", kernel_parameters_writable=False,
                         privileged_programs=[], missing_packages=module.params["packages"],
                         dpkg_status_mtime=0.0)
    kind = container_type(module)
    module.exit_json(
        changed=False,
        ansible_facts=facts,
        ssh_client=client,
        container=kind != "none",
        container_type=kind,
        kernel_parameters_writable=os.access(PROC_SYS_PROBE, os.W_OK),
        privileged_programs=privileged_programs(module, paths),
        missing_packages=missing(module, module.params["packages"]),
        dpkg_status_mtime=mtime(DPKG_STATUS),
    )


if __name__ == "__main__":
    main()
