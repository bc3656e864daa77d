"""Account defaults and sessions: BL-ACC-01..03, proven by the controls' live
checks (the files, as playbooks/audit.yml checks them on the council's hosts)
and with a new account, login shells and an SSH session."""

from __future__ import annotations

import re

import pytest
from baseline_helpers import ADMIN_KEY, ADMIN_USER, HOST, ssh_from_probe

testinfra_hosts = [HOST]


@pytest.fixture
def new_user(host):
    name = "tt-newcomer"
    host.run(f"userdel --remove {name}")
    host.check_output(f"useradd --create-home --shell /bin/bash {name}")
    yield name
    host.run(f"userdel --remove {name}")


def ageing(host, user: str) -> dict[str, str]:
    lines = host.check_output(f"LC_ALL=C chage -l {user}").splitlines()
    return {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lines)}


@pytest.mark.control("BL-ACC-01")
def test_login_defs_sets_password_ageing(control_check):
    control_check("BL-ACC-01", {"password_max_days": 365, "password_min_days": 1,
                                "password_warn_age": 7})


@pytest.mark.control("BL-ACC-01")
def test_a_new_account_gets_password_ageing(host, new_user):
    values = ageing(host, new_user)
    assert 1 <= int(values["Maximum number of days between password change"]) <= 365
    assert int(values["Minimum number of days between password change"]) >= 1
    assert int(values["Number of days of warning before password expires"]) >= 7


def is_027_or_stricter(umask: str) -> bool:
    value = int(umask, 8)
    return value & 0o027 == 0o027


@pytest.mark.control("BL-ACC-02")
def test_login_defs_and_pam_set_umask_027(control_check):
    control_check("BL-ACC-02", {"umask": "027"})


@pytest.mark.control("BL-ACC-02")
def test_a_login_shell_gets_umask_027(host, new_user):
    umask = host.check_output(f"su - {new_user} -c umask").strip()
    assert is_027_or_stricter(umask), umask


@pytest.mark.control("BL-ACC-02")
def test_an_ssh_session_gets_umask_027(probe, lab):
    result = ssh_from_probe(probe, lab, ADMIN_USER, "umask", options=f"-i {ADMIN_KEY}")
    assert result.rc == 0, result.stderr
    assert is_027_or_stricter(result.stdout.strip()), result.stdout


@pytest.mark.control("BL-ACC-03")
def test_the_profile_sets_a_read_only_timeout(control_check):
    control_check("BL-ACC-03", {"shell_timeout": 900})


@pytest.mark.control("BL-ACC-03")
def test_login_shells_have_a_read_only_timeout(host, new_user):
    for command in ("bash -lc 'echo $TMOUT'", f"su - {new_user} -c 'echo $TMOUT'"):
        timeout = host.check_output(command).strip()
        assert 0 < int(timeout) <= 900, command
    for command in ("bash -lc 'TMOUT=0'", f"su - {new_user} -c 'unset TMOUT'"):
        result = host.run(command)
        assert result.rc != 0, command
        assert re.search(r"TMOUT: (readonly variable|cannot unset)", result.stderr), result.stderr
