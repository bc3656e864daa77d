#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: the controller's cache entry and local version of one package build."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_build_cache
short_description: Find the cache folder and the local version of one rebuilt source package
description:
  - The council's repository rebuilds Debian source packages of a newer suite for the
    release its hosts run. A build depends on the source version, the target release
    and architecture, and the build tools (their versions). The module turns all of
    them into a cache key, so that a change of any of them never serves an earlier build.
  - The cache folder is C(<cache_dir>/<source>_<version without epoch>_<release>_<key>);
    it counts only when it holds C(.complete), written last by the build, with the
    C(local_version) the build was given.
  - A new build gets the local version C(<version>~<suffix><release version>+<N>)
    (Debian's backport style, for example C(1:22.10.1-1~tt13+1)), lower than Debian's
    own package of that version, so it is never mistaken for it. C(N) is one more
    than the highest C(N) of the same version in the cache (any key) and among
    O(published), so every rebuild has a newer version than the one the hosts know.
  - Reads only; never reports C(changed); runs the same in check mode.
options:
  cache_dir:
    description: The controller's cache of built packages.
    type: path
    required: true
  source:
    description: Name of the source package.
    type: str
    required: true
  version:
    description: Version of the source package in its suite (with its epoch, if any).
    type: str
    required: true
  release:
    description: Codename of the Debian release the hosts run (C(trixie)).
    type: str
    required: true
  release_version:
    description: Major version of that release (C(13)), used in the local version.
    type: str
    required: true
  architecture:
    description: Debian architecture of the build.
    type: str
    required: true
  tools:
    description:
      - What the build environment is made of, as text, for the key; typically the
        C(apt-cache madison) lines of the build tools, with the suites they come from.
      - Mirror addresses are dropped (C(http://.../debian trixie/main) counts as
        C(trixie/main)), so one build serves every mirror; lines of source indexes
        (C(Sources)) are left out.
    type: str
    default: ""
  recipe:
    description: Revision of the build recipe (the role's), raised when the way of building changes.
    type: str
    default: "1"
  published:
    description: Versions of the source's binary packages that the repository already publishes.
    type: list
    elements: str
    default: []
  suffix:
    description: Letters of the local version suffix, before the release version.
    type: str
    default: tt
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: It only reads, so it runs the same in check mode.
  diff_mode:
    support: none
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Find the cache entry of asterisk
  teletreball_build_cache:
    cache_dir: "{{ package_repo_cache_dir }}"
    source: asterisk
    version: "1:22.10.1+dfsg+~cs6.17.60671434-1"
    release: trixie
    release_version: "13"
    architecture: amd64
    tools: "{{ madison.stdout }}"
  delegate_to: localhost
  register: cache
"""

RETURN = r"""
key:
  description: The cache key (12 hex digits).
  returned: always
  type: str
path:
  description: The cache folder of this build.
  returned: always
  type: str
complete:
  description: Whether the folder holds a finished build (C(.complete) with its local version).
  returned: always
  type: bool
local_version:
  description: Version of the binary packages, from C(.complete) when complete, else the next one.
  returned: always
  type: str
  sample: "1:22.10.1+dfsg+~cs6.17.60671434-1~tt13+1"
others:
  description: Other cache folders of the same source, version and release (other keys).
  returned: always
  type: list
  elements: str
tools:
  description: The build-environment lines the key was made from (mirror addresses dropped).
  returned: always
  type: list
  elements: str
"""

import hashlib
import json
import os
import re

from ansible.module_utils.basic import AnsibleModule

NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
VERSION = re.compile(r"^([0-9]+:)?[0-9][A-Za-z0-9.+~-]*$")


def tool_lines(text):
    """The build-environment lines without mirror addresses, sorted and unique.
    ``apt-cache madison`` gives ``pkg | version | URI suite/component arch Packages``."""
    lines = set()
    for raw in text.splitlines():
        parts = [part.strip() for part in raw.split("|")]
        if len(parts) == 3:
            words = parts[2].split()  # URI suite/component [arch] Packages|Sources
            if words[-1:] != ["Packages"]:
                continue  # a source index (deb-src of a newer suite) builds nothing
            where = " ".join(words[1:])
            lines.add(f"{parts[0]} {parts[1]} {where}")
        elif raw.strip():
            lines.add(" ".join(raw.split()))
    return sorted(lines)


def cache_key(source, version, release, architecture, tools, recipe):
    material = json.dumps(
        {
            "source": source,
            "version": version,
            "release": release,
            "architecture": architecture,
            "tools": tools,
            "recipe": recipe,
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:12]


def read_complete(path):
    """The ``key: value`` lines of a .complete file; {} when missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return {}
    fields = {}
    for line in text.splitlines():
        if ":" in line and not line[:1].isspace():
            key, value = line.split(":", 1)
            fields[key.strip()] = value.strip()
    return fields


def rebuild_number(version, local_prefix, local_version):
    """N of ``<version><local_prefix>N`` (0 when ``local_version`` is not of that form)."""
    match = re.fullmatch(re.escape(version + local_prefix) + r"([0-9]+)", local_version or "")
    return int(match.group(1)) if match else 0


def plan(params):
    version = params["version"]
    no_epoch = version.split(":", 1)[-1]
    tools = tool_lines(params["tools"])
    key = cache_key(
        params["source"],
        version,
        params["release"],
        params["architecture"],
        tools,
        params["recipe"],
    )
    stem = f"{params['source']}_{no_epoch}_{params['release']}_"
    path = os.path.join(params["cache_dir"], stem + key)
    local_prefix = f"~{params['suffix']}{params['release_version']}+"
    seen = [rebuild_number(version, local_prefix, v) for v in params["published"]]
    others = []
    if os.path.isdir(params["cache_dir"]):
        for entry in sorted(os.listdir(params["cache_dir"])):
            folder = os.path.join(params["cache_dir"], entry)
            if not entry.startswith(stem) or folder == path or not os.path.isdir(folder):
                continue
            others.append(folder)
            seen.append(
                rebuild_number(
                    version,
                    local_prefix,
                    read_complete(os.path.join(folder, ".complete")).get("local_version"),
                )
            )
    complete = read_complete(os.path.join(path, ".complete"))
    mine = complete.get("local_version", "")
    if rebuild_number(version, local_prefix, mine):
        local_version = mine
    else:
        local_version = f"{version}{local_prefix}{max(seen, default=0) + 1}"
    return {
        "changed": False,
        "key": key,
        "path": path,
        "complete": bool(rebuild_number(version, local_prefix, mine)),
        "local_version": local_version,
        "others": others,
        "tools": tools,
    }


def main():
    module = AnsibleModule(
        argument_spec={
            "cache_dir": {"type": "path", "required": True},
            "source": {"type": "str", "required": True},
            "version": {"type": "str", "required": True},
            "release": {"type": "str", "required": True},
            "release_version": {"type": "str", "required": True},
            "architecture": {"type": "str", "required": True},
            "tools": {"type": "str", "default": ""},
            "recipe": {"type": "str", "default": "1"},
            "published": {"type": "list", "elements": "str", "default": []},
            "suffix": {"type": "str", "default": "tt"},
        },
        supports_check_mode=True,
    )
    params = module.params
    problems = []
    if not NAME.match(params["source"]):
        problems.append(f"source {params['source']!r} is not a Debian source package name")
    if not VERSION.match(params["version"]):
        problems.append(f"version {params['version']!r} is not a Debian version")
    if not re.match(r"^[a-z][a-z0-9-]*$", params["release"]):
        problems.append(f"release {params['release']!r} is not a Debian codename")
    if not re.match(r"^[0-9]+$", params["release_version"]):
        problems.append(f"release_version {params['release_version']!r} is not a whole number")
    if not re.match(r"^[a-z0-9-]+$", params["architecture"]):
        problems.append(f"architecture {params['architecture']!r} is not a Debian architecture")
    if not re.match(r"^[a-z]+$", params["suffix"]):
        problems.append(f"suffix {params['suffix']!r} must be lower-case letters")
    if problems:
        module.fail_json(msg="; ".join(problems) + ".")
    module.exit_json(**plan(params))


if __name__ == "__main__":
    main()
