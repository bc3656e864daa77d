"""Legal login banner: BL-BAN-01. /etc/issue and /etc/issue.net hold the
declared notice without agetty escapes and sshd's Banner is /etc/issue.net (the
control's live check, which playbooks/audit.yml runs on the council's hosts);
the probe sees the notice before authentication."""

from __future__ import annotations

import pytest
from baseline_helpers import ADMIN_USER, HOST, role_default, ssh_from_probe

testinfra_hosts = [HOST]


def notice(host) -> list[str]:
    return [line for line in host.check_output("cat /etc/issue.net").splitlines() if line]


@pytest.mark.control("BL-BAN-01")
def test_sshd_shows_the_notice_before_authentication(host, probe, lab):
    # Refused (no key offered), but the banner comes first.
    result = ssh_from_probe(probe, lab, ADMIN_USER, options="-o PubkeyAuthentication=no")
    assert result.rc == 255
    lines = notice(host)
    assert len(lines) >= 2
    for line in lines:
        assert line in result.stderr


@pytest.mark.control("BL-BAN-01")
def test_the_notices_are_the_legal_text_only(control_check):
    # converge.yml keeps the role's default notice.
    control_check("BL-BAN-01", {"login_banner": role_default("baseline_login_banner")})
