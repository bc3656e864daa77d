"""Constants and helpers of the baseline scenario's tests (fixtures: conftest.py)."""

from __future__ import annotations

import dataclasses
import pathlib
import shlex

import yaml

# The scenario's instances are podman containers named after the platforms; the
# podman backend runs a command in about 0.1 s, the ansible backend in about 1 s.
HOST = "podman://baseline-host"
PROBE = "podman://baseline-probe"
ADMIN_USER = "lab-admin"
ADMIN_KEY = "/root/.ssh/admin_ed25519"
SSH_OPTIONS = (
    "-o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=no "
    "-o UserKnownHostsFile=/dev/null -o LogLevel=INFO"
)

# The probe runs this to connect to a TCP port from a chosen source address and
# prints "open", "refused" or "timeout".
TCP_CONNECT = """
import socket, sys
src, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
sock = socket.socket()
sock.settimeout(3)
sock.bind((src, 0))
try:
    sock.connect((dst, port))
    print("open")
except ConnectionRefusedError:
    print("refused")
except (TimeoutError, socket.timeout):
    print("timeout")
"""


@dataclasses.dataclass(frozen=True)
class Lab:
    host_address: str
    probe_address: str
    outside_address: str


def allowed_network(lab: Lab) -> str:
    """converge.yml's lab_allowed_network: the lower /25 of the scenario's /24."""
    return f"{lab.probe_address.rsplit('.', 1)[0]}.0/25"


def role_default(name: str):
    """A default of the role (roles/baseline/defaults/main.yml) that converge.yml keeps."""
    defaults = pathlib.Path(__file__).resolve().parents[3] / "defaults" / "main.yml"
    return yaml.safe_load(defaults.read_text(encoding="utf-8"))[name]


def tcp_connect(probe, source: str, destination: str, port: int) -> str:
    script = shlex.quote(TCP_CONNECT)
    return probe.check_output(f"python3 -c {script} {source} {destination} {port}").strip()


def ssh_from_probe(probe, lab: Lab, user: str, command: str = "true", options: str = ""):
    """Run ssh on the probe towards baseline-host; returns the testinfra result."""
    return probe.run(
        f"LC_ALL=C.UTF-8 ssh {SSH_OPTIONS} {options} {user}@{lab.host_address} "
        f"{shlex.quote(command)}"
    )
