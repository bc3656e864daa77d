"""harness/scenario_order.py: the order and the groups of the parallel lanes of
harness/run-tests (scenarios that share a container, network or subnet must
never run at the same time)."""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = REPO / "harness" / "scenario_order.py"

spec = importlib.util.spec_from_file_location("scenario_order", SCRIPT)
scenario_order = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scenario_order)


def run(root: pathlib.Path) -> list[tuple[str, str, str]]:
    result = subprocess.run([sys.executable, str(SCRIPT), str(root)],
                            capture_output=True, text=True, check=True)
    return [tuple(line.split()) for line in result.stdout.splitlines()]


def test_every_scenario_of_the_repository_once_longest_first():
    lines = run(REPO)
    found = {(kind, name) for kind, name, _ in lines}
    assert len(found) == len(lines)
    on_disk = {("role", p.parents[2].name)
               for p in REPO.glob("roles/*/molecule/default/molecule.yml")}
    on_disk |= {("scenario", p.parent.name) for p in REPO.glob("molecule/*/molecule.yml")}
    assert found == on_disk
    listed = [name for _, name, _ in lines if name in scenario_order.LONGEST_FIRST]
    assert listed == [name for name in scenario_order.LONGEST_FIRST if name in listed]
    assert lines[0][1] == ("stack" if ("scenario", "stack") in on_disk else "pbx")


def test_scenarios_sharing_containers_are_one_group():
    """roles/conference and molecule/conference-jitsi both have the containers
    conf and client; every other scenario is a group of its own."""
    group = {(kind, name): grp for kind, name, grp in run(REPO)}
    assert group[("scenario", "conference-jitsi")] == "role:conference"
    assert group[("role", "conference")] == "role:conference"
    others = [grp for entry, grp in group.items()
              if entry not in {("scenario", "conference-jitsi"), ("role", "conference")}]
    assert len(others) == len(set(others))
    assert "role:conference" not in others


def test_resources_of_a_scenario():
    vpn = scenario_order.resources(REPO / "roles/vpn/molecule/default/molecule.yml")
    assert {"container:vpn-gateway", "network:teletreball-vpn-outside",
            "network:teletreball-vpn-inside", "subnet:10.89.30.0/24"} <= vpn


def write(path: pathlib.Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_a_shared_subnet_or_network_groups_and_unlisted_scenarios_come_last(tmp_path):
    write(tmp_path / "roles/vpn/molecule/default/molecule.yml",
          "platforms:\n  - {name: a, network: net-a}\n")
    write(tmp_path / "roles/pbx/molecule/default/molecule.yml",
          "dependency: {name: shell, command: x/harness/podman-networks p=10.9.0.0/24}\n"
          "platforms:\n  - {name: b, network: p}\n")
    write(tmp_path / "roles/aaa/molecule/default/molecule.yml",
          "platforms:\n  - {name: c, network: net-c, extra_opts: ['--network=net-a']}\n")
    write(tmp_path / "molecule/stack/molecule.yml",
          "dependency: {name: shell, command: x/harness/podman-networks s=10.9.0.0/24}\n"
          "platforms:\n  - {name: d, network: s}\n")
    write(tmp_path / "molecule/zzz/molecule.yml", "platforms:\n  - {name: e, network: z}\n")
    assert run(tmp_path) == [
        ("scenario", "stack", "scenario:stack"),
        ("role", "pbx", "scenario:stack"),  # the same subnet
        ("role", "vpn", "role:vpn"),
        ("role", "aaa", "role:vpn"),  # the network net-a
        ("scenario", "zzz", "scenario:zzz"),
    ]
