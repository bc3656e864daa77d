"""sudo: BL-SUDO-01. sudo reports its own effective defaults, and a command
run through it lands in its log file."""

from __future__ import annotations

import re
import uuid

import pytest
from baseline_helpers import HOST

testinfra_hosts = [HOST]


def sudo_defaults(host) -> str:
    listing = host.check_output("sudo -n -l")
    match = re.search(r"Matching Defaults entries.*?:\n(.*?)\n\n", listing, re.DOTALL)
    assert match, listing
    return match.group(1)


@pytest.mark.control("BL-SUDO-01")
def test_sudo_uses_a_pty_and_a_log_file(host):
    defaults = sudo_defaults(host)
    assert re.search(r"\buse_pty\b", defaults)
    assert re.search(r"\blogfile=/\S+", defaults)


@pytest.mark.control("BL-SUDO-01")
def test_a_sudo_command_is_logged(host):
    logfile = re.search(r"\blogfile=(/[^,\s]+)", sudo_defaults(host)).group(1)
    marker = f"tt-test-{uuid.uuid4().hex}"
    host.check_output(f"sudo -n -u nobody /usr/bin/true {marker}")
    log = host.check_output(f"cat {logfile}")
    assert re.search(rf"USER=nobody ; COMMAND=/usr/bin/true\s+{marker}", log), log[-2000:]
