"""The Molecule scenarios of `make test`, in the order harness/run-tests starts them.

Prints one line per scenario: KIND NAME GROUP, where KIND is `role` (the
scenario roles/NAME/molecule/default) or `scenario` (the multi-host scenario
molecule/NAME). Longest first, from a static list, so that parallel lanes end
close together; the scenarios the list does not name come after it, roles
first, each sorted by name.

GROUP names the first scenario of a set that must not run at the same time:
scenarios that share a container name, a podman network or a network's subnet
(read from the platforms of molecule.yml and the NAME=SUBNET arguments of
harness/podman-networks in its dependency step) are in the same group, and
run-tests runs a group's scenarios one after the other.

Usage: scenario_order.py [ROOT]  (ROOT: the repository, default this file's)
"""

from __future__ import annotations

import pathlib
import re
import shlex
import sys

import yaml

# Longest first (docs/performance.md): the multi-host stack, then the roles.
LONGEST_FIRST = ("stack", "pbx", "conference", "vdi", "pki", "baseline", "vpn")

ROOT = pathlib.Path(__file__).resolve().parents[1]


def scenario_file(root: pathlib.Path, kind: str, name: str) -> pathlib.Path:
    if kind == "role":
        return root / "roles" / name / "molecule" / "default" / "molecule.yml"
    return root / "molecule" / name / "molecule.yml"


def scenarios(root: pathlib.Path) -> list[tuple[str, str]]:
    """(kind, name) of every scenario, in the order to start them."""
    roles = sorted(p.parents[2].name for p in root.glob("roles/*/molecule/default/molecule.yml"))
    multi = sorted(p.parent.name for p in root.glob("molecule/*/molecule.yml"))
    ordered = []
    for name in LONGEST_FIRST:
        if name in multi:
            ordered.append(("scenario", name))
        if name in roles:
            ordered.append(("role", name))
    ordered += [("role", name) for name in roles if ("role", name) not in ordered]
    ordered += [("scenario", name) for name in multi if ("scenario", name) not in ordered]
    return ordered


def _networks_of_options(options: list) -> set[str]:
    """Networks named by podman options: --network=NAME or --network NAME."""
    found = set()
    words = [str(word) for option in options for word in shlex.split(str(option))]
    for index, word in enumerate(words):
        if word.startswith("--network="):
            found.update(word.split("=", 1)[1].split(","))
        elif word == "--network" and index + 1 < len(words):
            found.update(words[index + 1].split(","))
    return found


def resources(path: pathlib.Path) -> set[str]:
    """What two scenarios running at once must not share: container names,
    podman networks and the subnets given to harness/podman-networks."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    used = set()
    for platform in data.get("platforms") or []:
        used.add(f"container:{platform['name']}")
        networks = set()
        if platform.get("network"):
            networks.update(str(platform["network"]).split(","))
        for network in platform.get("networks") or []:
            networks.add(network["name"] if isinstance(network, dict) else str(network))
        networks |= _networks_of_options(platform.get("extra_opts") or [])
        used.update(f"network:{name.strip()}" for name in networks if name.strip())
    command = str((data.get("dependency") or {}).get("command") or "")
    if "podman-networks" in command:
        arguments = command.split("podman-networks", 1)[1]
        for match in re.finditer(r"([A-Za-z0-9_.-]+)=([0-9a-fA-F.:]+/[0-9]+)", arguments):
            used.add(f"network:{match.group(1)}")
            used.add(f"subnet:{match.group(2)}")
    return used


def groups(root: pathlib.Path, ordered: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The group of each scenario: the name of the first scenario (in run order)
    it shares a resource with, directly or through others."""
    parent = {entry: entry for entry in ordered}

    def find(entry):
        while parent[entry] != entry:
            parent[entry] = parent[parent[entry]]
            entry = parent[entry]
        return entry

    owner: dict[str, tuple[str, str]] = {}
    for entry in ordered:
        for resource in resources(scenario_file(root, *entry)):
            if resource in owner:
                first, second = find(owner[resource]), find(entry)
                # The earlier scenario stays the root: groups are named after it.
                if ordered.index(second) < ordered.index(first):
                    first, second = second, first
                parent[second] = first
            else:
                owner[resource] = entry
    return {entry: "{}:{}".format(*find(entry)) for entry in ordered}


def main(argv: list[str]) -> int:
    root = pathlib.Path(argv[1]).resolve() if len(argv) > 1 else ROOT
    ordered = scenarios(root)
    group_of = groups(root, ordered)
    for kind, name in ordered:
        print(kind, name, group_of[(kind, name)])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
