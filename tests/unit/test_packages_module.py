"""Unit tests of the module teletreball_packages: one dpkg-query, apt only when needed.

No test runs dpkg or apt: run_command is a fake host that answers dpkg-query from a
table of package states and records every command. The apt folders the module reads
(the package lists, the update stamp, the sources) are under pytest's temporary folder.
"""

from __future__ import annotations

import os
import time

import pytest
from ansible.module_utils.basic import AnsibleModule
from module_runner import fake_bin_paths, load_library_module, refuse_commands, run_main

HOUR = 3600


class FakeHost:
    """dpkg-query and apt-get of a host whose dpkg knows ``states`` (name -> the
    three status letters). apt-get install marks the names it gets as installed,
    except those in ``never_installed`` (virtual packages)."""

    def __init__(self, states, install_rc=0, install_err="", update_rc=0,
                 never_installed=(), query_rc=None, provides=None):
        self.states = dict(states)
        self.provides = dict(provides or {})  # installed package -> "Provides" field
        self.provides_queries = 0  # counted apart: calls keeps the commands that act
        self.install_rc, self.install_err = install_rc, install_err
        self.update_rc = update_rc
        self.never_installed = set(never_installed)
        self.query_rc = query_rc
        self.calls = []

    def __call__(self, argv, environ_update=None, expand_user_and_vars=True, **kwargs):
        assert expand_user_and_vars is False, "${Package} must reach dpkg-query as it is"
        if argv[2:] == [r"--showformat=${db:Status-Abbrev}\t${Provides}\n"]:
            self.provides_queries += 1
            return self.query(argv)
        self.calls.append({"argv": list(argv), "env": dict(environ_update or {})})
        program = os.path.basename(argv[0])
        if program == "dpkg-query":
            return self.query(argv)
        assert program == "apt-get", argv
        if "update" in argv:
            return self.update_rc, "Reading package lists...\n", ""
        return self.install(argv)

    def query(self, argv):
        assert argv[1] == "-W"
        if argv[2:] == [r"--showformat=${db:Status-Abbrev}\t${Provides}\n"]:
            return 0, "".join(f"{self.states.get(name, 'ii ')}\t{field}\n"
                              for name, field in self.provides.items()), ""
        assert argv[2] == r"--showformat=${Package}\t${db:Status-Abbrev}\n"
        if self.query_rc is not None:
            return self.query_rc, "", "dpkg-query: error: something broke\n"
        out, err = [], []
        for name in argv[3:]:
            if name in self.states:
                out.append(f"{name}\t{self.states[name]}\n")
            else:
                err.append(f"dpkg-query: no packages found matching {name}\n")
        return (1 if err else 0), "".join(out), "".join(err)

    def install(self, argv):
        if self.install_rc:
            return self.install_rc, "Reading package lists...\n", self.install_err
        for entry in self.packages(argv):
            name = entry.partition("/")[0]
            if name not in self.never_installed:
                self.states[name] = "ii "
        return 0, "Setting up ...\n", ""

    @staticmethod
    def packages(argv):
        """The package arguments of an apt-get install command line."""
        words, skip = [], False
        for word in argv[2:]:
            if skip:
                skip = False
            elif word in ("-o", "-t"):
                skip = True
            elif not word.startswith("-"):
                words.append(word)
        return words

    def programs(self):
        """Each command as its program and first argument, such as 'apt-get install'."""
        result = []
        for call in self.calls:
            argv = call["argv"]
            program = os.path.basename(argv[0])
            result.append(program if program == "dpkg-query" else f"{program} {argv[1]}")
        return result

    def installs(self):
        return [call["argv"] for call in self.calls if "install" in call["argv"][1:2]]


@pytest.fixture(autouse=True)
def no_commands(monkeypatch):
    refuse_commands(monkeypatch)
    fake_bin_paths(monkeypatch)


@pytest.fixture
def apt(tmp_path):
    """The apt folders of the fake host: fresh lists (updated a minute ago), a stamp
    folder without a stamp, one source older than the lists."""
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "deb.debian.org_debian_dists_trixie_main_binary-amd64_Packages.lz4").write_text("")
    periodic = tmp_path / "periodic"
    periodic.mkdir()
    sources_d = tmp_path / "sources.list.d"
    sources_d.mkdir()
    (sources_d / "debian.sources").write_text("Types: deb\n")
    ago(sources_d / "debian.sources", 2 * HOUR)
    ago(lists, 60)
    return {"lists": lists, "stamp": periodic / "update-success-stamp",
            "sources": tmp_path / "sources.list", "sources_d": sources_d}


def ago(path, seconds):
    when = time.time() - seconds
    os.utime(path, (when, when))


def run(args, capsys, monkeypatch, host, apt, check_mode=False):
    module = load_library_module("teletreball_packages")
    monkeypatch.setattr(module, "LISTS_DIR", str(apt["lists"]))
    monkeypatch.setattr(module, "STAMP", str(apt["stamp"]))
    monkeypatch.setattr(module, "SOURCES", (str(apt["sources"]), str(apt["sources_d"])))
    monkeypatch.setattr(AnsibleModule, "run_command",
                        lambda self, argv, **kwargs: host(argv, **kwargs))
    return run_main(module, args, capsys, check_mode)


def test_all_installed_means_one_dpkg_query_and_no_apt(capsys, monkeypatch, apt):
    host = FakeHost({"nginx": "ii ", "coturn": "ii ", "chrony": "hi "})
    for path in apt["lists"].iterdir():  # even without package lists: nothing to update
        path.unlink()
    result = run({"names": ["nginx", "coturn", "chrony"]}, capsys, monkeypatch, host, apt)
    assert result["rc"] == 0 and result["changed"] is False
    assert result["installed"] == result["missing"] == []
    assert result["cache_updated"] is False
    assert host.programs() == ["dpkg-query"]
    assert host.calls[0]["argv"][3:] == ["nginx", "coturn", "chrony"]
    assert result["diff"]["before"] == result["diff"]["after"] == ""


def test_only_the_missing_packages_are_installed_in_one_call(capsys, monkeypatch, apt):
    host = FakeHost({"nginx": "ii ", "coturn": "un ", "prosody": "rc ", "lua5.4": "iU "})
    names = ["nginx", "coturn", "prosody", "lua5.4"]
    result = run({"names": names}, capsys, monkeypatch, host, apt)
    assert result["rc"] == 0 and result["changed"] is True
    assert result["installed"] == result["missing"] == ["coturn", "prosody", "lua5.4"]
    assert result["cache_updated"] is False  # the lists are a minute old
    assert host.programs() == ["dpkg-query", "apt-get install", "dpkg-query"]
    (install,) = host.installs()
    assert host.packages(install) == ["coturn", "prosody", "lua5.4"]
    for option in ("-y", "-q", "--no-install-recommends", "Dpkg::Options::=--force-confdef",
                   "Dpkg::Options::=--force-confold", "DPkg::Lock::Timeout=120"):
        assert option in install
    assert "-t" not in install
    env = host.calls[1]["env"]
    assert env["DEBIAN_FRONTEND"] == "noninteractive"
    assert env["APT_LISTCHANGES_FRONTEND"] == "none"
    assert result["diff"]["before"] == "coturn (un)\nprosody (rc)\nlua5.4 (iU)\n"
    assert result["diff"]["after"] == ""


def test_a_name_dpkg_does_not_know_is_installed(capsys, monkeypatch, apt):
    host = FakeHost({"nginx": "ii "})
    result = run({"names": ["nginx", "wireguard-tools"]}, capsys, monkeypatch, host, apt)
    assert result["rc"] == 0 and result["installed"] == ["wireguard-tools"]
    assert host.packages(host.installs()[0]) == ["wireguard-tools"]
    assert result["diff"]["before"] == "wireguard-tools (not known to dpkg)\n"


def test_name_release_asks_dpkg_the_name_and_apt_the_whole(capsys, monkeypatch, apt):
    host = FakeHost({"devscripts": "ii "})
    names = ["devscripts", "debhelper/trixie-backports", "dh-python/trixie-backports"]
    result = run({"names": names}, capsys, monkeypatch, host, apt)
    assert result["rc"] == 0
    assert host.calls[0]["argv"][3:] == ["devscripts", "debhelper", "dh-python"]
    assert result["installed"] == ["debhelper/trixie-backports", "dh-python/trixie-backports"]
    assert host.packages(host.installs()[0]) == result["installed"]

    again = run({"names": names}, capsys, monkeypatch, host, apt)
    assert again["changed"] is False and host.programs()[-1] == "dpkg-query"


def test_check_mode_runs_only_dpkg_query(capsys, monkeypatch, apt):
    host = FakeHost({"nginx": "ii "})
    for path in apt["lists"].iterdir():
        path.unlink()
    result = run({"names": ["nginx", "coturn"]}, capsys, monkeypatch, host, apt,
                 check_mode=True)
    assert result["rc"] == 0 and result["changed"] is True
    assert result["installed"] == result["missing"] == ["coturn"]
    assert result["cache_updated"] is True
    assert host.programs() == ["dpkg-query"]
    assert not apt["stamp"].exists()
    assert result["diff"]["before"] == "coturn (not known to dpkg)\n"


def test_a_failing_apt_names_the_packages_and_shows_its_last_lines(capsys, monkeypatch, apt):
    noise = "".join(f"W: line {n}\n" for n in range(40))
    host = FakeHost({}, install_rc=100,
                    install_err=noise + "E: Unable to locate package no-such-thing\n")
    result = run({"names": ["coturn", "no-such-thing"]}, capsys, monkeypatch, host, apt)
    assert result["rc"] == 1 and result["failed"] is True
    assert result["msg"].startswith("apt-get install failed (exit 100) for coturn, no-such-thing")
    assert "E: Unable to locate package no-such-thing" in result["msg"]
    assert "W: line 39" in result["msg"] and "W: line 10\n" not in result["msg"]
    assert result["apt_rc"] == 100 and result["installed"] == []
    assert result["missing"] == ["coturn", "no-such-thing"]
    assert result["changed"] is True  # apt may have done part of it
    assert result["apt_stderr"].count("\n") == 19  # the last 20 lines


def test_a_package_still_missing_after_apt_fails(capsys, monkeypatch, apt):
    host = FakeHost({}, never_installed={"mail-transport-agent"})
    result = run({"names": ["mail-transport-agent", "coturn"]}, capsys, monkeypatch, host, apt)
    assert result["failed"] is True and result["changed"] is True
    assert "nor a package providing them: mail-transport-agent." in result["msg"]
    assert result["installed"] == ["coturn"]
    assert result["missing"] == ["mail-transport-agent", "coturn"]


def test_dpkg_query_errors_fail(capsys, monkeypatch, apt):
    host = FakeHost({}, query_rc=2)
    result = run({"names": ["coturn"]}, capsys, monkeypatch, host, apt)
    assert result["failed"] is True and "dpkg-query failed (exit 2)" in result["msg"]
    assert host.programs() == ["dpkg-query"]


# --- the age of the package lists --------------------------------------------------------


def updated_first(host):
    return host.programs()[:3] == ["dpkg-query", "apt-get update", "apt-get install"]


def test_lists_absent_are_updated_first_and_the_stamp_touched(capsys, monkeypatch, apt):
    for path in apt["lists"].iterdir():
        path.unlink()
    host = FakeHost({})
    result = run({"names": ["coturn"]}, capsys, monkeypatch, host, apt)
    assert result["rc"] == 0 and result["cache_updated"] is True and updated_first(host)
    update = host.calls[1]["argv"]
    assert update[1] == "update" and "DPkg::Lock::Timeout=120" in update
    assert time.time() - apt["stamp"].stat().st_mtime < 60


@pytest.mark.parametrize(("lists_age", "stamp_age", "max_age", "update"), [
    (60, None, 3600, False),          # fresh lists
    (2 * HOUR, None, 3600, True),     # old lists, no stamp
    (2 * HOUR, 60, 3600, False),      # old lists, but a recent update changed nothing
    (2 * HOUR, 30 * 60, 3600, False),
    (2 * HOUR, 2 * HOUR, 3 * HOUR, False),
    (60, None, 0, True),              # 0: always before installing
])
def test_lists_older_than_the_max_age_are_updated(
    capsys, monkeypatch, apt, lists_age, stamp_age, max_age, update
):
    ago(apt["lists"], lists_age)
    if stamp_age is not None:
        apt["stamp"].write_text("")
        ago(apt["stamp"], stamp_age)
    host = FakeHost({})
    result = run({"names": ["coturn"], "update_cache_max_age": max_age},
                 capsys, monkeypatch, host, apt)
    assert result["rc"] == 0 and result["cache_updated"] is update
    assert updated_first(host) is update


def test_a_source_added_after_the_last_update_updates_the_lists(capsys, monkeypatch, apt):
    (apt["sources_d"] / "jitsi.sources").write_text("Types: deb\n")  # newer than the lists
    host = FakeHost({})
    result = run({"names": ["jicofo"]}, capsys, monkeypatch, host, apt)
    assert result["cache_updated"] is True and updated_first(host)


def test_a_failing_update_fails_before_installing(capsys, monkeypatch, apt):
    ago(apt["lists"], 2 * HOUR)
    host = FakeHost({}, update_rc=100)
    result = run({"names": ["coturn"]}, capsys, monkeypatch, host, apt)
    assert result["failed"] is True and "apt-get update failed (exit 100)" in result["msg"]
    assert "coturn" in result["msg"] and host.installs() == []
    assert result["changed"] is False and result["cache_updated"] is False


def test_recommends_and_default_release_reach_apt(capsys, monkeypatch, apt):
    host = FakeHost({})
    run({"names": ["coturn"], "install_recommends": True, "default_release": "trixie-backports",
         "lock_timeout": 5}, capsys, monkeypatch, host, apt)
    (install,) = host.installs()
    assert "--install-recommends" in install and "--no-install-recommends" not in install
    assert install[install.index("-t") + 1] == "trixie-backports"
    assert "DPkg::Lock::Timeout=5" in install


def test_bad_arguments_are_reported_together_and_nothing_runs(capsys, monkeypatch, apt):
    host = FakeHost({})
    result = run({
        "names": ["Nginx", "coturn=4.6", "libc6:amd64", "ngin*", "-y", "debhelper",
                  "debhelper/trixie-backports", "ok/bad release", "nginx", "nginx"],
        "default_release": "trixie backports", "update_cache_max_age": -1,
    }, capsys, monkeypatch, host, apt)
    assert result["failed"] is True and result["msg"].startswith("teletreball_packages: ")
    for text in ("'Nginx'", "'coturn=4.6'", "'libc6:amd64'", "'ngin*'", "'-y'",
                 "'debhelper' is listed twice", "'ok/bad release'",
                 "default_release 'trixie backports'", "update_cache_max_age must be"):
        assert text in result["msg"]
    assert "'nginx'" not in result["msg"]  # the same entry twice is fine
    assert host.calls == []


def test_no_names_is_nothing_to_do(capsys, monkeypatch, apt):
    host = FakeHost({})
    result = run({"names": []}, capsys, monkeypatch, host, apt)
    assert result["rc"] == 0 and result["changed"] is False and host.calls == []


def test_a_virtual_name_an_installed_package_provides_is_there(capsys, monkeypatch, apt):
    host = FakeHost({"prosody": "ii ", "lua-unbound": "ii "},
                    provides={"lua-unbound": "lua5.4-unbound (= 1.0), lua5.3-unbound"})
    result = run({"names": ["prosody", "lua5.4-unbound"]}, capsys, monkeypatch, host, apt)
    assert result["changed"] is False and result["missing"] == []
    assert host.programs() == ["dpkg-query"] and host.provides_queries == 1
