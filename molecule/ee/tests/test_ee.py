"""The execution environment for AWX/AAP, built and used as AWX uses it.

The image is built from execution-environment.yml with ansible-builder and
podman, on the Debian 13 test image. Every run below starts a fresh container
of it as its unprivileged user (uid 1000), with the project mounted read-only,
as AWX mounts a project's checkout: the preflight on the example inventory,
then converge.yml over SSH to tt-ee-target, which Molecule converged from this
machine's .venv just before, and which must report no change.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import time

import pytest
import yaml

ROOT = pathlib.Path(os.environ.get("TT_ROOT") or pathlib.Path(__file__).resolve().parents[3])
EPHEMERAL = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
EE_DIR = EPHEMERAL / "ee"
IMAGE = "localhost/teletreball/ee:molecule"
PROJECT = "/runner/project"
EE_USER = 1000
TARGET = "tt-ee-target"
# EE_DIR inside the container: the scenario's folder is under the home of the
# user who runs Molecule, which uid 1000 may not enter.
EE_MOUNT = "/runner/ee"


def podman(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=False,
                          timeout=timeout)


def image_id() -> str:
    result = podman("image", "inspect", "--format", "{{.Id}}", IMAGE)
    return result.stdout.strip() if result.returncode == 0 else ""


def remove_stale_stages(build_output: str) -> None:
    """Remove the untagged stage images (galaxy, builder) of earlier builds.
    Those of this build stay: they are the next build's cache. An image of an
    execution environment's stage is one of the test image's (its label) with
    ansible-builder's PIP_BREAK_SYSTEM_PACKAGES; this build's are the ids that
    podman printed for its steps."""
    used = set(re.findall(r"^--> (?:Using cache )?([0-9a-f]{11,64})$", build_output, re.MULTILINE))
    dangling = podman("images", "--quiet", "--no-trunc", "--filter", "dangling=true")
    for image in dangling.stdout.split():
        image = image.removeprefix("sha256:")
        if any(image.startswith(step) for step in used):
            continue
        info = podman("image", "inspect", "--format",
                      '{{index .Config.Labels "org.teletreball.recipe"}}|{{.Config.Env}}', image)
        label, _, env = info.stdout.partition("|")
        if info.returncode == 0 and label.strip() and "PIP_BREAK_SYSTEM_PACKAGES=1" in env:
            podman("rmi", image)


@pytest.fixture(scope="module")
def image(request) -> str:
    """Build the image (podman's layer cache makes an unchanged rebuild quick);
    an image it replaces is removed, so that rebuilds leave no dangling ones.
    TT_EE_NO_CACHE=1 builds every layer again (the cold build's time)."""
    before = image_id()
    start = time.monotonic()
    command = [str(pathlib.Path(sys.executable).parent / "ansible-builder"), "build",
               "--file", str(ROOT / "execution-environment.yml"),
               "--context", str(EPHEMERAL / "ee-context"), "--tag", IMAGE, "--verbosity", "3"]
    if os.environ.get("TT_EE_NO_CACHE") == "1":
        command.append("--no-cache")
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=1200)
    seconds = time.monotonic() - start
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    after = image_id()
    if before and before != after:
        podman("rmi", before)
    remove_stale_stages(result.stdout)
    size = podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.strip()
    # On the terminal even when the tests pass (docs/performance.md).
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        request.config.pluginmanager.get_plugin("terminalreporter").write_line(
            f"execution environment {IMAGE} built in {seconds:.0f} s, {int(size) // 2**20} MiB")
    return IMAGE


def in_ee(image: str, *command: str, network: str | None = None, env: tuple[str, ...] = (),
          timeout: int = 600) -> subprocess.CompletedProcess:
    """COMMAND in a fresh container of the image, as AWX runs a job."""
    options = ["run", "--rm", "--user", str(EE_USER), *(f"--env={item}" for item in env),
               "--volume", f"{ROOT}:{PROJECT}:ro", "--workdir", PROJECT,
               "--env", "ANSIBLE_NOCOLOR=1", "--env", "ANSIBLE_FORCE_COLOR=0",
               "--env", "ANSIBLE_DEPRECATION_WARNINGS=0"]
    if network:
        options += ["--network", network, "--volume", f"{EE_DIR}:{EE_MOUNT}"]
    return podman(*options, image, *command, timeout=timeout)


def recap(output: str) -> dict[str, dict[str, int]]:
    """The PLAY RECAP's counters, per host."""
    counters = {}
    for host, fields in re.findall(r"^(\S+)\s+:\s+(ok=\d+.*)$", output, re.MULTILINE):
        counters[host] = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", fields)}
    return counters


def test_the_image_has_the_pinned_ansible_and_collections(image):
    # The copy of requirements-controller.txt that ansible-builder built from
    # (the unit tests check that the definition names that file).
    built = EPHEMERAL / "ee-context" / "_build" / "requirements.txt"
    pins = dict(line.split("#", 1)[0].strip().split("==", 1)
                for line in built.read_text(encoding="utf-8").splitlines()
                if "==" in line.split("#", 1)[0])
    result = in_ee(image, "python3", "-c",
                   "import importlib.metadata as m, json, sys;"
                   "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))",
                   *pins, "ansible-runner")
    assert result.returncode == 0, result.stderr
    installed = json.loads(result.stdout.strip().splitlines()[-1])
    assert {name: installed[name] for name in pins} == pins
    result = in_ee(image, "ansible-galaxy", "collection", "list", "--format", "json")
    assert result.returncode == 0, result.stderr
    found = {}
    for collections in json.loads(result.stdout).values():
        for name, info in collections.items():
            found.setdefault(name, info["version"])
    wanted = yaml.safe_load((ROOT / "collections" / "requirements.yml").read_text(encoding="utf-8"))
    for collection in wanted["collections"]:
        assert found.get(collection["name"]) == collection["version"], collection["name"]


def test_the_image_keeps_no_trace_of_the_test_harness(image):
    """No apt proxy of the harness and the build's /output gone: the image is
    the one a council would push to its registry."""
    result = in_ee(image, "sh", "-c", "id -u; ls /etc/apt/apt.conf.d; ls -d /output || true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == str(EE_USER)
    assert "teletreball" not in result.stdout
    assert "/output" not in result.stdout.split("\n", 1)[1].replace("No such file", "")


def test_the_preflight_passes_inside_the_image(image):
    result = in_ee(image, "ansible-playbook", "-i", "inventories/example/hosts.yml",
                   "playbooks/preflight.yml", "--check")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    counters = recap(result.stdout)
    assert counters.get("localhost", {}).get("failed") == 0, output[-6000:]
    assert not any(c["unreachable"] for c in counters.values()), output[-6000:]


def test_a_job_without_its_state_volume_refuses_to_start(image):
    """The inventory records teletreball_state_id, TELETREBALL_STATE_DIR names
    a volume that is not mounted: the preflight stops, writes nothing and makes
    no new CA (the state's guard, seen from a job)."""
    result = in_ee(image, "sh", "-c",
                   "ansible-playbook -i inventories/example/hosts.yml playbooks/preflight.yml"
                   " -e teletreball_state_id=20260101-0123456789abcdef;"
                   " status=$?; ls -A /runner/state 2>/dev/null | wc -l; exit $status",
                   env=("TELETREBALL_STATE_DIR=/runner/state",))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-6000:]
    flat = " ".join(output.split())
    assert "/runner/state/credentials/example is missing" in flat, output[-6000:]
    assert "20260101-0123456789abcdef" in flat, output[-6000:]
    assert recap(result.stdout)["localhost"]["failed"] == 1, output[-6000:]
    assert result.stdout.strip().splitlines()[-1] == "0", "the refused run wrote into the state"


def test_a_run_over_ssh_from_the_image_changes_nothing(image):
    """converge.yml again, from inside the image, over SSH as the admin that
    Molecule's converge made, with sudo: a no-change run (changed=0)."""
    for key in ("ee-admin_ed25519", "ee-admin_ed25519.pub"):
        os.chown(EE_DIR / key, EE_USER, 0)
    inventory = EE_DIR / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "vars": {
            "ee_dir": EE_MOUNT,
            "teletreball_credentials_dir": f"{EE_MOUNT}/credentials",
        },
        "children": {"ee_targets": {"hosts": {TARGET: {
            "ansible_host": os.environ["EE_ADDRESS"],
            "ansible_connection": "ssh",
            "ansible_user": "ee-admin",
            "ansible_become": True,
            "ansible_ssh_private_key_file": f"{EE_MOUNT}/ee-admin_ed25519",
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=accept-new "
                                       "-o UserKnownHostsFile=/tmp/known_hosts",
        }}}},
    }}), encoding="utf-8")
    os.chmod(inventory, 0o644)
    result = in_ee(image, "ansible-playbook", "-i", f"{EE_MOUNT}/inventory.yml",
                   "molecule/ee/converge.yml",
                   network=os.environ["EE_NETWORK"])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    counters = recap(result.stdout)
    assert TARGET in counters, output[-8000:]
    assert counters[TARGET]["ok"] > 0, output[-8000:]
    assert (counters[TARGET]["changed"], counters[TARGET]["failed"],
            counters[TARGET]["unreachable"]) == (0, 0, 0), output[-8000:]
