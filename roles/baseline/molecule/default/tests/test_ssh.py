"""SSH server: BL-SSH-01..06, proven by sshd's effective configuration
(``sshd -T``, through the controls' live checks that playbooks/audit.yml runs
on the council's hosts) and by real connections from the probe."""

from __future__ import annotations

import pytest
from baseline_helpers import ADMIN_KEY, ADMIN_USER, HOST, ssh_from_probe

testinfra_hosts = [HOST]

@pytest.mark.control("BL-SSH-01")
def test_only_public_keys_are_accepted(control_check):
    control_check("BL-SSH-01", {"ssh_admin_user": ADMIN_USER})


@pytest.mark.control("BL-SSH-01")
def test_password_login_is_refused_from_the_probe(probe, lab):
    result = ssh_from_probe(
        probe,
        lab,
        ADMIN_USER,
        options="-o PubkeyAuthentication=no "
        "-o PreferredAuthentications=password,keyboard-interactive",
    )
    assert result.rc == 255
    assert "Permission denied (publickey)" in result.stderr


@pytest.mark.control("BL-SSH-01")
@pytest.mark.control("BL-SSH-06")
def test_declared_admin_logs_in_with_its_key(probe, lab):
    result = ssh_from_probe(probe, lab, ADMIN_USER, "id -un; id -Gn", options=f"-i {ADMIN_KEY}")
    assert result.rc == 0, result.stderr
    name, groups = result.stdout.splitlines()[:2]
    assert name == ADMIN_USER
    assert "teletreball-admins" in groups.split()


@pytest.mark.control("BL-SSH-02")
def test_root_login_is_disabled(control_check):
    control_check("BL-SSH-02")


@pytest.mark.control("BL-SSH-02")
def test_root_with_a_valid_key_is_refused(host, probe, lab):
    public_key = probe.check_output(f"ssh-keygen -y -f {ADMIN_KEY}")
    host.check_output("install -d -m 0700 /root/.ssh")
    host.check_output(
        f"cp -a /root/.ssh/authorized_keys /root/.ssh/authorized_keys.tt-test 2>/dev/null; "
        f"echo '{public_key}' >> /root/.ssh/authorized_keys"
    )
    try:
        result = ssh_from_probe(probe, lab, "root", options=f"-i {ADMIN_KEY}")
    finally:
        host.run(
            "if [ -e /root/.ssh/authorized_keys.tt-test ]; then "
            "mv /root/.ssh/authorized_keys.tt-test /root/.ssh/authorized_keys; "
            "else rm -f /root/.ssh/authorized_keys; fi"
        )
    assert result.rc == 255
    assert "Permission denied" in result.stderr


@pytest.mark.control("BL-SSH-03")
def test_few_authentication_attempts(control_check):
    control_check("BL-SSH-03")


@pytest.mark.control("BL-SSH-04")
def test_idle_sessions_end_within_fifteen_minutes(control_check):
    control_check("BL-SSH-04")


@pytest.mark.control("BL-SSH-05")
def test_only_modern_algorithms_are_offered(control_check):
    control_check("BL-SSH-05")


@pytest.mark.control("BL-SSH-05")
@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("-o Ciphers=aes256-cbc", "no matching cipher found"),
        ("-o KexAlgorithms=diffie-hellman-group14-sha256", "no matching key exchange method"),
        ("-o Ciphers=aes256-ctr -o MACs=hmac-sha2-256", "no matching MAC found"),
    ],
)
def test_a_client_with_old_algorithms_cannot_connect(probe, lab, option, message):
    result = ssh_from_probe(probe, lab, ADMIN_USER, options=f"-i {ADMIN_KEY} {option}")
    assert result.rc == 255
    assert message in result.stderr


@pytest.mark.control("BL-SSH-05")
def test_the_key_exchange_is_post_quantum_hybrid(probe, lab):
    result = ssh_from_probe(probe, lab, ADMIN_USER, options=f"-v -i {ADMIN_KEY}")
    assert result.rc == 0, result.stderr
    assert "kex: algorithm: mlkem768x25519-sha256" in result.stderr


@pytest.mark.control("BL-SSH-06")
def test_only_the_admin_group_may_log_in(control_check):
    control_check("BL-SSH-06")


@pytest.mark.control("BL-SSH-06")
def test_a_user_outside_the_admin_group_is_refused_even_with_a_key(host, probe, lab):
    public_key = probe.check_output(f"ssh-keygen -y -f {ADMIN_KEY}")
    host.check_output("useradd --create-home --shell /bin/bash tt-outsider")
    try:
        host.check_output(
            "install -d -o tt-outsider -g tt-outsider -m 0700 /home/tt-outsider/.ssh && "
            f"echo '{public_key}' > /home/tt-outsider/.ssh/authorized_keys && "
            "chown tt-outsider: /home/tt-outsider/.ssh/authorized_keys"
        )
        result = ssh_from_probe(probe, lab, "tt-outsider", options=f"-i {ADMIN_KEY}")
    finally:
        host.run("userdel --remove tt-outsider")
    assert result.rc == 255
    assert "Permission denied" in result.stderr


@pytest.mark.control("BL-SSH-01")
def test_sshd_runs_with_the_checked_configuration(host):
    assert host.service("ssh").is_running
    assert host.service("ssh").is_enabled
    assert host.run("/usr/sbin/sshd -t").rc == 0
    # The running daemon started after its configuration was last written.
    started = host.check_output(
        'date -d "$(systemctl show ssh.service -P ActiveEnterTimestamp)" +%s'
    )
    written = host.check_output("stat -c %Y /etc/ssh/sshd_config")
    assert int(started) >= int(written)
