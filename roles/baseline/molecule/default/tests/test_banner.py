"""Legal login banner: BL-BAN-01. The probe sees the notice before
authentication; the local notice is the same text without agetty escapes."""

from __future__ import annotations

import pytest
from baseline_helpers import ADMIN_USER, HOST, ssh_from_probe

testinfra_hosts = [HOST]


def notice(host) -> list[str]:
    return [line for line in host.check_output("cat /etc/issue.net").splitlines() if line]


@pytest.mark.control("BL-BAN-01")
def test_sshd_shows_the_notice_before_authentication(host, probe, lab):
    assert host.check_output("/usr/sbin/sshd -T | grep -i '^banner '").split()[1] == (
        "/etc/issue.net"
    )
    # Refused (no key offered), but the banner comes first.
    result = ssh_from_probe(probe, lab, ADMIN_USER, options="-o PubkeyAuthentication=no")
    assert result.rc == 255
    lines = notice(host)
    assert len(lines) >= 2
    for line in lines:
        assert line in result.stderr


@pytest.mark.control("BL-BAN-01")
def test_the_local_notice_is_the_legal_text_only(host):
    local = host.check_output("cat /etc/issue")
    assert [line for line in local.splitlines() if line] == notice(host)
    assert "\\" not in local
    assert "Debian" not in local
