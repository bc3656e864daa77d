#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: a role's drop-in of the baseline firewall, checked, written and loaded."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_nft_dropin
short_description: Write a drop-in of the baseline firewall, check the whole firewall, load it
description:
  - Manages one drop-in C(<dropin_dir>/<name>.nft) of the host firewall of the role
    C(baseline) (see the README of that role, "Firewall openings") in one module run, where
    a C(template) task with C(validate) and two handlers (check, then reload) took three or
    more. The controller renders the content, for instance with
    C(lookup('ansible.builtin.template', 'name.nft.j2')).
  - The drop-in is compared first. When its content, mode, owner and group match, nothing is
    run and nothing is touched. When only the mode, owner or group differ, they are fixed
    and the firewall is not reloaded (it reads the content only).
  - Otherwise the content is written to a hidden candidate C(.<name>.nft.<random>) in
    O(dropin_dir) (not matched by the C(*.nft) include of O(config)), with the final mode,
    owner and group, synced to disk. The whole firewall is then checked with
    C(nft -c -f), that is O(config) with the installed drop-ins and the candidate in place of this
    drop-in, as C(teletreball-nft-check CANDIDATE DEST) of the role baseline does (copies in
    a private temporary folder; nothing is loaded). A refused candidate is removed, the
    drop-in keeps its content and the module fails with nft's message.
  - The candidate then replaces the drop-in with one C(rename), and the firewall is loaded
    with C(systemctl reload-or-restart nftables.service) (a reload, or a start when the
    service is not running, as C(ansible.builtin.systemd_service) with C(state=reloaded)
    does). After a reload that succeeded, C(nft list table inet <table>) must show the
    table of the baseline.
  - When the reload fails (or the table is missing after it), the previous drop-in is put
    back (or the new one removed when there was none), the firewall is loaded again, and
    the module fails with nft's message (read from the journal of C(nftables.service),
    where the service writes it) and what the restore did.
options:
  name:
    description:
      - The drop-in, without C(.nft), made of two digits, a dash, then lower-case letters, digits,
        C(_) or C(-), such as C(50-pbx). The digits order the drop-ins (they are included in
        the order of their names).
    type: str
    required: true
  content:
    description: The whole content of the drop-in, as text (written as UTF-8).
    type: str
    required: true
  mode:
    description: Permissions as a quoted string of four octal digits.
    type: str
    default: "0640"
  owner:
    description: Name (or numeric id) of the user owning the drop-in.
    type: str
    default: root
  group:
    description: Name (or numeric id) of the group owning the drop-in.
    type: str
    default: root
  config:
    description:
      - The main configuration of the firewall, written by the role baseline. It must hold
        the line C(include "<dropin_dir>/*.nft").
    type: path
    default: /etc/nftables.conf
  dropin_dir:
    description: The folder of the drop-ins, made by the role baseline.
    type: path
    default: /etc/nftables.d
  table:
    description: The table C(inet) of the baseline, which must be loaded after the reload.
    type: str
    default: teletreball
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Nothing is written, checked with C(nft -c) or loaded; a real run still refuses
      a drop-in that nft rejects.
  diff_mode:
    support: full
    details: One diff for the content and one for the mode, owner and group, when they
      change.
notes:
  - Supports check mode and diff mode. In check mode nothing is written, checked or loaded,
    as the C(validate) of C(ansible.builtin.template) does not run in check mode (what the
    check reads, such as the main configuration, may only be written by an earlier task of
    the same real run). A missing O(dropin_dir), owner or group is then a warning, for the
    same reason.
  - The diff is a list, with one diff for the content and one for the mode, owner and group,
    when they change.
  - Needs C(nft), C(systemctl) and, for the message of a failed reload, C(journalctl).
    The host must run the role baseline (with C(baseline_manage_firewall)) first.
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Write the PBX rules of the firewall
  teletreball_nft_dropin:
    name: 50-pbx
    content: "{{ lookup('ansible.builtin.template', 'pbx.nft.j2') }}"
"""

RETURN = r"""
dest:
  description: The path of the drop-in.
  returned: always
  type: str
  sample: /etc/nftables.d/50-pbx.nft
reloaded:
  description: The firewall was loaded with the new drop-in (false in check mode, when the
    content did not change, and on a failure).
  returned: always
  type: bool
restored:
  description: The reload with the new drop-in failed and the previous drop-in was put back
    (or the new one removed).
  returned: when the reload failed
  type: bool
check_rc:
  description: Exit status of C(nft -c) when it refused the candidate.
  returned: when the check failed
  type: int
check_stderr:
  description: What C(nft -c) printed, the copies named by the installed paths.
  returned: when the check failed
  type: str
reload_msg:
  description: What C(systemctl) and the journal of C(nftables.service) said about the
    failed reload with the new drop-in.
  returned: when the reload failed
  type: str
"""

import glob
import os
import re
import shutil
import stat
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_hostfiles import (
    NotRegularFile,
    Problems,
    attribute_diff,
    attributes_differ,
    content_diff,
    encode_content,
    install,
    output_of,
    read_regular,
    resolve_attributes,
    set_attributes,
    sync_folder,
)

NAME_RE = re.compile(r"^[0-9]{2}-[a-z0-9][a-z0-9_-]*$")
TABLE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
SERVICE = "nftables.service"
JOURNAL_LINES = 40


def prepare(params, check_mode):
    """The drop-in to manage as a dict, and warnings; or Problems listing every problem."""
    problems, warnings = [], []
    name = params["name"]
    if not NAME_RE.fullmatch(name):
        hint = " (without .nft)" if name.endswith(".nft") else ""
        problems.append(
            "name must be two digits, a dash, then lower-case letters, digits, _ or -, such "
            f"as 50-pbx{hint}; not {name!r}."
        )
    for key in ("config", "dropin_dir"):
        if not os.path.isabs(params[key]):
            problems.append(f"{key} must be an absolute path, not {params[key]!r}.")
    if not TABLE_RE.fullmatch(params["table"]):
        problems.append(f"table must be an nftables name (letters, digits, _), "
                        f"not {params['table']!r}.")
    mode, uid, gid = resolve_attributes(params, problems, warnings, check_mode)
    data = encode_content(params["content"], problems)
    if problems:
        raise Problems.of(problems)
    dropin_dir = os.path.normpath(params["dropin_dir"])
    return {
        "name": name,
        "dir": dropin_dir,
        "dest": os.path.join(dropin_dir, f"{name}.nft"),
        "config": os.path.normpath(params["config"]),
        "table": params["table"],
        "data": data,
        "content": params["content"],
        "mode": params["mode"],
        "mode_bits": mode,
        "owner": params["owner"],
        "group": params["group"],
        "uid": uid,
        "gid": gid,
    }, warnings


class Dropin:
    """One call of the module."""

    def __init__(self, module, item):
        self.module = module
        self.item = item
        self.result = {"changed": False, "dest": item["dest"], "reloaded": False, "diff": []}

    def fail(self, msg, **extra):
        result = dict(self.result, **extra)
        if not self.module._diff:
            result.pop("diff")
        self.module.fail_json(msg=f"teletreball_nft_dropin: {msg}", **result)

    def exit(self):
        if not self.module._diff:
            self.result.pop("diff")
        self.module.exit_json(**self.result)

    def run(self, argv):
        """(rc, stdout, stderr) of a command, run without a shell."""
        return self.module.run_command(argv, expand_user_and_vars=False,
                                       environ_update={"LC_ALL": "C.UTF-8"})

    def binary(self, name):
        return self.module.get_bin_path(name, required=True)

    # --- what is there --------------------------------------------------------------

    def read_current(self):
        """(lstat, bytes) of the installed drop-in, or (None, None)."""
        dest = self.item["dest"]
        try:
            return read_regular(dest)
        except NotRegularFile:
            self.fail(f"{dest} exists and is not a regular file (a link, a folder...); "
                      "a drop-in must be a regular file.")
        except OSError as exc:
            self.fail(f"cannot read {dest}: {exc}.")

    # --- the whole firewall with the candidate ------------------------------------------

    def check(self, candidate_data):
        """nft -c -f on the main configuration with the installed drop-ins and
        ``candidate_data`` in place of this drop-in (teletreball-nft-check CANDIDATE DEST of
        the role baseline); fails the module when nft refuses it."""
        item = self.item
        include = f'include "{item["dir"]}/*.nft"'
        try:
            with open(item["config"], encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            self.fail(f"{item['dest']} was not changed: cannot read {item['config']} ({exc}); "
                      "the role baseline writes it (baseline_manage_firewall).")
        if include not in lines:
            self.fail(f"{item['dest']} was not changed: {item['config']} does not include "
                      f"{item['dir']}/*.nft (the line {include}); run the role baseline "
                      "(baseline_manage_firewall) first.")
        nft = self.binary("nft")
        work = tempfile.mkdtemp(prefix="teletreball-nft-")
        try:
            os.mkdir(os.path.join(work, "d"))
            for path in sorted(glob.glob(os.path.join(glob.escape(item["dir"]), "*.nft"))):
                if path != item["dest"]:
                    shutil.copyfile(path, os.path.join(work, "d", os.path.basename(path)))
            with open(os.path.join(work, "d", os.path.basename(item["dest"])), "wb") as handle:
                handle.write(candidate_data)
            main = os.path.join(work, "main.nft")
            with open(main, "w", encoding="utf-8") as handle:
                for line in lines:
                    handle.write(f'include "{work}/d/*.nft"\n' if line == include else line + "\n")
            rc, out, err = self.run([nft, "-c", "-f", main])
        except OSError as exc:
            self.fail(f"{item['dest']} was not changed: cannot prepare the check of the "
                      f"firewall: {exc}.")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if rc == 0:
            return
        # nft names the copies: name them by the installed files.
        out, err = (text.replace(f"{work}/d/", f"{item['dir']}/").replace(main, item["config"])
                    for text in (out, err))
        self.fail(f"{item['dest']} was not changed: nft -c refused the firewall with the new "
                  f"drop-in (exit {rc}):\n{output_of(out, err)}",
                  check_rc=rc, check_stderr=err)

    # --- writing and loading --------------------------------------------------------

    def reload(self):
        """None when the firewall was loaded and the baseline's table is there; otherwise
        what systemctl, the journal of the service and nft say."""
        systemctl = self.binary("systemctl")
        since = int(time.time())
        rc, out, err = self.run([systemctl, "reload-or-restart", SERVICE])
        if rc != 0:
            said = [f"systemctl reload-or-restart {SERVICE} exited with {rc}: "
                    f"{output_of(out, err)}"]
            journal = self.journal(since)
            if journal:
                said.append(f"The journal of {SERVICE} says:\n{journal}")
            return "\n".join(said)
        table = self.item["table"]
        rc, out, err = self.run([self.binary("nft"), "-t", "list", "table", "inet", table])
        if rc != 0:
            return (f"{SERVICE} reloaded, but the table inet {table} is not loaded "
                    f"(nft list table exited with {rc}): {output_of(out, err)}")
        return None

    def journal(self, since):
        """The last lines the service wrote since ``since`` (nft's message), or ''."""
        journalctl = self.module.get_bin_path("journalctl")
        if not journalctl:
            return ""
        rc, out, _err = self.run([journalctl, "--unit", SERVICE, "--since", f"@{since}",
                                  "--output", "cat", "--no-pager", "--quiet"])
        if rc != 0:
            return ""
        return "\n".join(out.strip().splitlines()[-JOURNAL_LINES:])

    def restore(self, info, before, reload_msg):
        """After a failed reload: the previous drop-in back (or the new one removed), the
        firewall loaded again; then fail."""
        dest = self.item["dest"]
        try:
            if before is None:
                os.unlink(dest)
                sync_folder(self.item["dir"])
            else:
                install(dest, before, info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode))
        except OSError as exc:
            self.result["changed"] = True
            self.fail(f"the firewall did not load with the new {dest}:\n{reload_msg}\n"
                      f"Putting the previous drop-in back failed too ({exc}): the new one is "
                      "still there and the next reload or boot reads it. Fix or remove it.",
                      reload_msg=reload_msg, restored=False)
        what = "removed (it was new)" if before is None else "put back as it was"
        again = self.reload()
        if again is None:
            outcome = f"{dest} was {what} and the firewall reloaded with it."
        else:
            outcome = (f"{dest} was {what}, but loading the firewall again failed too:\n"
                       f"{again}")
        self.fail(f"the firewall did not load with the new {dest}:\n{reload_msg}\n{outcome}",
                  reload_msg=reload_msg, restored=True)

    # --- the call -------------------------------------------------------------------

    def main(self, warnings):
        item = self.item
        dest = item["dest"]
        for warning in warnings:
            self.module.warn(warning)
        if not os.path.isdir(item["dir"]):
            message = (f"the folder {item['dir']} does not exist: the role baseline makes it "
                       "(baseline_manage_firewall) and must run first on this host.")
            if not self.module.check_mode:
                self.fail(message)
            self.module.warn(message[0].upper() + message[1:])
            info = before = None
        else:
            info, before = self.read_current()

        content_changed = before != item["data"]
        attributes_changed = info is not None and attributes_differ(info, item)
        if content_changed:
            self.result["diff"].append(content_diff(item, before))
        if attributes_changed:
            self.result["diff"].append(attribute_diff(dest, info, item))
        if not (content_changed or attributes_changed):
            self.exit()
        self.result["changed"] = True
        if self.module.check_mode:
            self.exit()
        if not content_changed:
            try:
                set_attributes(dest, item)
            except OSError as exc:
                self.result["changed"] = False
                self.fail(f"cannot set the mode, owner and group of {dest}: {exc}.")
            self.exit()

        self.result["changed"] = False  # until the drop-in is replaced
        self.check(item["data"])
        try:
            install(dest, item["data"], item["uid"], item["gid"], item["mode_bits"])
        except OSError as exc:
            self.fail(f"cannot write {dest}: {exc}.")
        self.result["changed"] = True
        reload_msg = self.reload()
        if reload_msg is not None:
            self.result["changed"] = False  # unless the restore fails
            self.restore(info, before, reload_msg)
        self.result["reloaded"] = True
        self.exit()


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "content": {"type": "str", "required": True},
            "mode": {"type": "str", "default": "0640"},
            "owner": {"type": "str", "default": "root"},
            "group": {"type": "str", "default": "root"},
            "config": {"type": "path", "default": "/etc/nftables.conf"},
            "dropin_dir": {"type": "path", "default": "/etc/nftables.d"},
            "table": {"type": "str", "default": "teletreball"},
        },
        supports_check_mode=True,
    )
    try:
        item, warnings = prepare(module.params, module.check_mode)
    except Problems as exc:
        module.fail_json(msg=f"teletreball_nft_dropin: {exc}", changed=False, reloaded=False)
    Dropin(module, item).main(warnings)


if __name__ == "__main__":
    main()
