"""Unit tests of the module teletreball_host_probe: the baseline's questions in one run.

The setuid and setgid search runs the real find(1) over a folder of this test;
systemd-detect-virt is a fake (its answer depends on where the tests run)."""

from __future__ import annotations

import os

import pytest
from ansible.module_utils.basic import AnsibleModule
from module_runner import load_library_module, run_main

REAL_RUN_COMMAND = AnsibleModule.run_command
TRIXIE_OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 13 (trixie)"
NAME="Debian GNU/Linux"
VERSION_ID="13"
VERSION="13 (trixie)"
VERSION_CODENAME=trixie
ID=debian
"""


class FakeDetectVirt:
    """systemd-detect-virt --container answering (rc, stdout, stderr); find runs for real."""

    def __init__(self, rc=0, out="podman\n", err=""):
        self.answer = (rc, out, err)
        self.calls = []

    def __call__(self, module, argv, **kwargs):
        assert kwargs.get("expand_user_and_vars") is False
        self.calls.append(argv)
        if os.path.basename(argv[0]) == "systemd-detect-virt":
            assert argv[1:] == ["--container"]
            return self.answer
        return REAL_RUN_COMMAND(module, argv, **kwargs)


@pytest.fixture
def probe(monkeypatch, tmp_path):
    module = load_library_module("teletreball_host_probe")
    monkeypatch.setattr(module, "DPKG_STATUS", str(tmp_path / "dpkg-status"))
    (tmp_path / "os-release").write_text(TRIXIE_OS_RELEASE)
    (tmp_path / "debian_version").write_text("13.2\n")
    monkeypatch.setattr(module, "OS_RELEASE", (str(tmp_path / "os-release"),))
    monkeypatch.setattr(module, "DEBIAN_VERSION", str(tmp_path / "debian_version"))

    def run(args, capsys, detect=None, check_mode=False):
        detect = detect or FakeDetectVirt()
        monkeypatch.setattr(AnsibleModule, "run_command",
                            lambda self, argv, **kwargs: detect(self, argv, **kwargs))
        return run_main(module, args, capsys, check_mode)

    return run


def make(path, mode):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    os.chmod(path, mode)
    return str(path)


def test_finds_setuid_and_setgid_programs_only_sorted_once(probe, tmp_path, capsys):
    setuid = make(tmp_path / "usr" / "bin" / "su-like", 0o4755)
    setgid = make(tmp_path / "usr" / "bin" / "crontab-like", 0o2755)
    make(tmp_path / "usr" / "bin" / "plain", 0o755)
    usr = str(tmp_path / "usr")
    result = probe({"privileged_search_paths": [usr, usr, str(tmp_path / "absent")]}, capsys)
    assert result["rc"] == 0 and result["changed"] is False
    assert result["privileged_programs"] == sorted([setuid, setgid])


def test_no_search_without_paths(probe, capsys):
    detect = FakeDetectVirt()
    result = probe({}, capsys, detect)
    assert result["privileged_programs"] == []
    assert [os.path.basename(call[0]) for call in detect.calls] == ["systemd-detect-virt"]


@pytest.mark.parametrize(("answer", "container", "kind"), [
    ((0, "podman\n", ""), True, "podman"),
    ((1, "none\n", ""), False, "none"),
])
def test_container_or_not(probe, capsys, answer, container, kind):
    result = probe({}, capsys, FakeDetectVirt(*answer))
    assert result["container"] is container and result["container_type"] == kind


def test_a_failing_detect_virt_fails_the_module(probe, capsys):
    result = probe({}, capsys, FakeDetectVirt(2, "", "Failed to check for container: boom\n"))
    assert result["failed"] is True
    assert "systemd-detect-virt --container failed (exit 2)" in result["msg"]
    assert "boom" in result["msg"]


def test_a_failing_find_fails_the_module(probe, tmp_path, capsys, monkeypatch):
    detect = FakeDetectVirt()
    folder = tmp_path / "usr"
    folder.mkdir()

    def failing(module, argv, **kwargs):
        if os.path.basename(argv[0]) == "find":
            return 1, "", "find: '/usr/x': Permission denied\n"
        return detect(module, argv, **kwargs)

    result = probe({"privileged_search_paths": [str(folder)]}, capsys, failing)
    assert result["failed"] is True
    assert "find of the setuid and setgid programs failed (exit 1)" in result["msg"]
    assert "Permission denied" in result["msg"]


def test_relative_paths_are_refused(probe, capsys):
    result = probe({"privileged_search_paths": ["usr/bin", "/usr"]}, capsys)
    assert result["failed"] is True
    assert result["msg"] == "privileged_search_paths must be absolute paths: usr/bin"


def test_dpkg_status_time_is_read_and_zero_without_it(probe, tmp_path, capsys):
    assert probe({}, capsys)["dpkg_status_mtime"] == 0.0
    status = tmp_path / "dpkg-status"
    status.write_text("Package: x\n")
    os.utime(status, (1_700_000_000.5, 1_700_000_000.5))
    assert probe({}, capsys, check_mode=True)["dpkg_status_mtime"] == 1_700_000_000.5


class FakeDpkg(FakeDetectVirt):
    """Also answers dpkg-query: ``states`` maps installed names to their status letters,
    ``provides`` lists what installed packages provide; ``rc`` makes it fail."""

    def __init__(self, states, provides=(), rc=None):
        super().__init__()
        self.states, self.provides, self.rc = states, provides, rc

    def __call__(self, module, argv, **kwargs):
        if os.path.basename(argv[0]) != "dpkg-query":
            return super().__call__(module, argv, **kwargs)
        self.calls.append(argv)
        if self.rc is not None:
            return self.rc, "", "dpkg-query: broken database\n"
        if "${Provides}" in argv[2]:
            return 0, "".join(f"ii \t{name}\n" for name in self.provides), ""
        names = argv[3:]
        out = "".join(f"{name}\t{self.states[name]}\n" for name in names if name in self.states)
        return (0 if all(name in self.states for name in names) else 1), out, ""


def test_missing_packages_are_those_neither_installed_nor_provided(probe, capsys):
    dpkg = FakeDpkg({"openssh-server": "ii ", "auditd": "rc "}, provides=["lua5.4-unbound"])
    result = probe({"packages": ["openssh-server", "auditd", "lua5.4-unbound", "chrony"]},
                   capsys, dpkg)
    assert result["rc"] == 0 and result["changed"] is False
    assert result["missing_packages"] == ["auditd", "chrony"]


def test_nothing_missing_is_one_dpkg_query(probe, capsys):
    dpkg = FakeDpkg({"openssh-server": "ii ", "nftables": "hi "})
    assert probe({"packages": ["openssh-server", "nftables"]}, capsys, dpkg)[
        "missing_packages"] == []
    assert [os.path.basename(c[0]) for c in dpkg.calls].count("dpkg-query") == 1


def test_a_failing_dpkg_query_fails_the_module(probe, capsys):
    result = probe({"packages": ["auditd"]}, capsys, FakeDpkg({}, rc=2))
    assert result["failed"] is True
    assert result["msg"] == "dpkg-query failed (exit 2): dpkg-query: broken database"


def test_package_names_with_a_release_or_odd_characters_are_refused(probe, capsys):
    result = probe({"packages": ["auditd", "debhelper/trixie-backports", "Bad"]}, capsys)
    assert result["failed"] is True
    assert result["msg"] == "packages: not Debian package names: debhelper/trixie-backports, Bad"


def test_distribution_facts_are_those_setup_would_gather(probe, capsys, monkeypatch):
    monkeypatch.setenv("SSH_CLIENT", "192.0.2.10 50122 22")
    result = probe({}, capsys)
    assert result["ansible_facts"] == {
        "distribution": "Debian", "distribution_version": "13.2",
        "distribution_major_version": "13", "distribution_release": "trixie"}
    assert result["ssh_client"] == "192.0.2.10"
    monkeypatch.delenv("SSH_CLIENT")
    assert probe({}, capsys)["ssh_client"] == ""


def test_a_testing_release_takes_the_version_of_os_release(tmp_path, probe, capsys):
    (tmp_path / "debian_version").write_text("forky/sid\n")
    forky = TRIXIE_OS_RELEASE.replace('VERSION_ID="13"', 'VERSION_ID="14"')
    (tmp_path / "os-release").write_text(forky.replace("trixie", "forky"))
    facts = probe({}, capsys)["ansible_facts"]
    assert facts["distribution_major_version"] == "14" and facts["distribution_release"] == "forky"


def test_on_another_distribution_only_the_facts_are_read(tmp_path, probe, capsys):
    (tmp_path / "os-release").write_text('NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="24.04"\n'
                                         "VERSION_CODENAME=noble\nbroken line\n")
    detect = FakeDpkg({})
    result = probe({"packages": ["sudo"], "privileged_search_paths": [str(tmp_path)]}, capsys,
                   detect=detect)
    assert result["ansible_facts"]["distribution"] == "Ubuntu"
    assert result["ansible_facts"]["distribution_major_version"] == "24"
    assert detect.calls == [] and result["changed"] is False
