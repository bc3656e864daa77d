"""sudo: BL-SUDO-01. The sudoers defaults (the control's live check, which
playbooks/audit.yml runs on the council's hosts), and a command run through
sudo lands in its log file."""

from __future__ import annotations

import re
import uuid

import pytest
from baseline_helpers import HOST

testinfra_hosts = [HOST]

LOGFILE = "/var/log/sudo.log"


@pytest.mark.control("BL-SUDO-01")
def test_sudo_uses_a_pty_and_a_log_file(control_check):
    control_check("BL-SUDO-01", {"sudo_logfile": LOGFILE})


@pytest.mark.control("BL-SUDO-01")
def test_a_sudo_command_is_logged(host):
    marker = f"tt-test-{uuid.uuid4().hex}"
    host.check_output(f"sudo -n -u nobody /usr/bin/true {marker}")
    log = host.check_output(f"cat {LOGFILE}")
    assert re.search(rf"USER=nobody ; COMMAND=/usr/bin/true\s+{marker}", log), log[-2000:]
