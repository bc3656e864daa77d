"""Fixtures of the baseline scenario.

The tests run on baseline-host (each module sets ``testinfra_hosts``); the
probe is a second container on the same network used as a real client: SSH,
TCP connections and ping. Its main address is inside the networks the
scenario allows; its second address (``.200``, added by prepare.yml) is not.
"""

from __future__ import annotations

import time

import pytest
import testinfra
from baseline_helpers import PROBE, Lab


@pytest.fixture(scope="session")
def probe():
    return testinfra.get_host(PROBE)


@pytest.fixture(scope="module")
def lab(host, probe):
    """The addresses of the scenario, read from the running containers."""
    host_address = host.check_output("hostname -I").split()[0]
    probe_addresses = probe.check_output("hostname -I").split()
    primary = probe_addresses[0]
    outside = f"{primary.rsplit('.', 1)[0]}.200"
    assert outside in probe_addresses, f"prepare.yml did not add {outside} to the probe"
    return Lab(host_address=host_address, probe_address=primary, outside_address=outside)


@pytest.fixture(scope="module")
def listeners(host):
    """TCP listeners on baseline-host: 8080 (declared opening), 8081 (nothing
    declared), 8082 (drop-in of converge.yml). Started as transient units."""
    ports = (8080, 8081, 8082)
    host.check_output("mkdir -p /run/tt-test-empty")
    for port in ports:
        host.run(f"systemctl stop tt-test-listen-{port}.service")
        host.check_output(
            f"systemd-run --unit=tt-test-listen-{port} --collect "
            f"python3 -m http.server --bind 0.0.0.0 --directory /run/tt-test-empty {port}"
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if all(host.socket(f"tcp://0.0.0.0:{port}").is_listening for port in ports):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the test listeners did not start")
    yield ports
    for port in ports:
        host.run(f"systemctl stop tt-test-listen-{port}.service")
