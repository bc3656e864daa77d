# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vars plugin: group_vars and host_vars as Ansible loads them, with the staff
directory kept as data."""

from __future__ import annotations

DOCUMENTATION = r"""
name: teletreball_group_vars
short_description: group_vars and host_vars, with the staff directory never templated
description:
  - Loads C(group_vars/) and C(host_vars/) exactly as ansible-core's C(host_group_vars)
    does, which it replaces (C(vars_plugins_enabled) in ansible.cfg).
  - One difference. A file that defines C(teletreball_staff) as a list is read a
    second time without marking its text as templates, and that second reading
    gives the list. A C({{ }}) or C({% %}) in a person's name, department or any
    other field is then plain text for Ansible, as for every other program. Directory
    data often comes from an HR export. It must never run a lookup or a filter on
    the controller.
  - The other variables of the same file stay templates (for example
    C(teletreball_credentials_dir) of the lab inventory).
  - A C(teletreball_staff) given as one expression (a string) is left to Ansible,
    and what it refers to is templated as Ansible templates it. The Molecule scenarios
    build their test people that way; an inventory should give the list itself.
  - Sets C(teletreball_staff_inert) to the file that gave the list, or
    C(teletreball_staff_expression) to the file that gave an expression. The
    preflight refuses a directory that came from neither (hosts.yml, host
    variables of an inventory plugin, extra vars).
  - Needs ansible-core 2.19 or later, where only text marked as a template is
    templated.
version_added: "1.0.0"
options:
  stage:
    ini:
      - key: stage
        section: vars_teletreball_group_vars
    env:
      - name: ANSIBLE_VARS_PLUGIN_STAGE
extends_documentation_fragment:
  - vars_plugin_staging
"""

from ansible.plugins.vars.host_group_vars import VarsModule as HostGroupVars

STAFF = "teletreball_staff"
MARKER = "teletreball_staff_inert"
EXPRESSION = "teletreball_staff_expression"


class VarsModule(HostGroupVars):
    """host_group_vars, with teletreball_staff read as data."""

    def load_found_files(self, loader, data, found_files):
        data = super().load_found_files(loader, data, found_files)
        if STAFF not in data:
            return data
        # The last file that defines the directory gives it, as in host_group_vars.
        trusted = data[STAFF]
        for found in found_files:
            # cache="none": the first reading (with templates) is in the cache.
            plain = loader.load_from_file(found, cache="none", unsafe=True,
                                          trusted_as_template=False)
            if not isinstance(plain, dict) or STAFF not in plain:
                continue
            data = {key: value for key, value in data.items() if key not in (MARKER, EXPRESSION)}
            if isinstance(plain[STAFF], list):
                data.update({STAFF: plain[STAFF], MARKER: found})
            else:
                data.update({STAFF: trusted, EXPRESSION: found})
        return data
