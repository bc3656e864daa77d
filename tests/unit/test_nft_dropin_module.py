"""Unit tests of the module teletreball_nft_dropin: a drop-in of the baseline firewall,
checked with the whole firewall, written, loaded, and restored when it does not load.

The firewall lives under pytest's temporary folder; nft, systemctl and journalctl are
small fakes put first on PATH that log their calls. The fake nft refuses a file holding
BROKEN; the fake systemctl fails to load a drop-in holding FAILS_ON_LOAD (as nft -f can
fail where nft -c passed), or every time with FAKE_RELOAD_FAILS set.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import stat
import sys

import pytest
from module_runner import collect_warnings, load_library_module, run_main

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
RULES = 'table inet teletreball {\n\tchain services {\n\t\ttcp dport 5061 accept\n\t}\n}\n'
NEW_RULES = RULES.replace("5061", "5062")
JOURNAL_SAYS = "50-pbx.nft:3:3-19: Error: Could not process rule: No such file or directory"

FAKE_NFT = """
import glob, json, os, re, sys
log = os.environ["FAKE_LOG"]
if sys.argv[1:3] == ["-c", "-f"]:
    main = sys.argv[3]
    seen = {}
    for line in open(main).read().splitlines():
        found = re.fullmatch(r'include "(.*)"', line)
        for path in sorted(glob.glob(found.group(1))) if found else []:
            seen[os.path.basename(path)] = open(path).read()
    with open(log, "a") as handle:
        handle.write(json.dumps({"nft -c": main, "dropins": seen}) + "\\n")
    for name, text in seen.items():
        if "BROKEN" in text:
            path = os.path.join(os.path.dirname(main), "d", name)
            print(f"{path}:2:1-6: Error: syntax error, unexpected junk", file=sys.stderr)
            print(f"In file included from {main}:9:1-30:", file=sys.stderr)
            sys.exit(1)
    sys.exit(0)
with open(log, "a") as handle:
    handle.write(json.dumps({"nft": sys.argv[1:]}) + "\\n")
if os.environ.get("FAKE_NO_TABLE"):
    print("Error: No such file or directory", file=sys.stderr)
    sys.exit(1)
"""

FAKE_SYSTEMCTL = """
import glob, json, os, sys
folder = os.environ["FAKE_DROPIN_DIR"]
dropins = {os.path.basename(p): open(p).read() for p in sorted(glob.glob(folder + "/*.nft"))}
with open(os.environ["FAKE_LOG"], "a") as handle:
    handle.write(json.dumps({"systemctl": sys.argv[1:], "dropins": dropins}) + "\\n")
if os.environ.get("FAKE_RELOAD_FAILS") or any("FAILS_ON_LOAD" in t for t in dropins.values()):
    print("Job for nftables.service failed because the control process exited with error"
          " code.", file=sys.stderr)
    sys.exit(1)
"""

FAKE_JOURNALCTL = f"""
import json, os, sys
with open(os.environ["FAKE_LOG"], "a") as handle:
    handle.write(json.dumps({{"journalctl": sys.argv[1:]}}) + "\\n")
print({JOURNAL_SAYS!r})
print("nftables.service: Control process exited, code=exited, status=1/FAILURE")
"""


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A firewall of the baseline under tmp_path, and the fakes first on PATH."""
    etc = tmp_path / "etc"
    dropins = etc / "nftables.d"
    dropins.mkdir(parents=True)
    config = etc / "nftables.conf"
    config.write_text(
        "table inet teletreball\ndelete table inet teletreball\n"
        "table inet teletreball {\n\tchain services {\n\t}\n}\n"
        f'include "{dropins}/*.nft"\n'
    )
    (dropins / "60-vpn.nft").write_text("# the VPN's rules\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, code in (("nft", FAKE_NFT), ("systemctl", FAKE_SYSTEMCTL),
                       ("journalctl", FAKE_JOURNALCTL)):
        fake = bin_dir / name
        fake.write_text(f"#!{sys.executable}\n{code}")
        fake.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_DROPIN_DIR", str(dropins))
    return {"dir": dropins, "config": config, "bin": bin_dir, "log": log,
            "dest": dropins / "50-pbx.nft"}


def args(host, content=RULES, **extra):
    return dict(name="50-pbx", content=content, owner=OWNER, group=GROUP,
                config=str(host["config"]), dropin_dir=str(host["dir"]), **extra)


def run(arguments, capsys, check_mode=False):
    return run_main(load_library_module("teletreball_nft_dropin"), arguments, capsys, check_mode)


def calls(host):
    if not host["log"].exists():
        return []
    return [json.loads(line) for line in host["log"].read_text().splitlines()]


def reset(host):
    host["log"].unlink(missing_ok=True)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def leftovers(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def install(host, content=RULES, file_mode=0o640):
    host["dest"].write_text(content)
    host["dest"].chmod(file_mode)


def test_a_new_dropin_is_checked_with_the_others_written_and_loaded(host, capsys):
    result = run(args(host), capsys)
    assert result["rc"] == 0 and result["changed"] is True and result["reloaded"] is True
    assert result["dest"] == str(host["dest"])
    assert host["dest"].read_text() == RULES and mode(host["dest"]) == 0o640
    check, reload, table = calls(host)
    # The whole firewall: the other drop-ins and the candidate, in a private copy.
    assert check["dropins"] == {"50-pbx.nft": RULES, "60-vpn.nft": "# the VPN's rules\n"}
    assert not check["nft -c"].startswith(str(host["dir"]))
    assert reload["systemctl"] == ["reload-or-restart", "nftables.service"]
    assert reload["dropins"]["50-pbx.nft"] == RULES  # loaded after the rename
    assert table["nft"] == ["-t", "list", "table", "inet", "teletreball"]
    assert result["diff"][0]["before"] == "" and result["diff"][0]["after"] == RULES
    assert "(new, mode 0640" in result["diff"][0]["after_header"]
    assert leftovers(host["dir"]) == []


def test_the_candidate_replaces_the_installed_dropin_in_the_check(host, capsys):
    install(host, "BROKEN but being replaced\n")
    result = run(args(host, NEW_RULES), capsys)
    assert result["rc"] == 0 and result["changed"] is True
    assert calls(host)[0]["dropins"]["50-pbx.nft"] == NEW_RULES
    assert host["dest"].read_text() == NEW_RULES


def test_an_unchanged_dropin_runs_nothing_and_is_not_touched(host, capsys):
    run(args(host), capsys)
    reset(host)
    before = os.stat(host["dest"])
    result = run(args(host), capsys)
    assert result["rc"] == 0 and result["changed"] is False and result["reloaded"] is False
    assert result["diff"] == [] and calls(host) == []
    after = os.stat(host["dest"])
    assert (before.st_ino, before.st_mtime_ns, before.st_ctime_ns) == (
        after.st_ino, after.st_mtime_ns, after.st_ctime_ns)


def test_a_wrong_mode_alone_is_fixed_without_a_reload(host, capsys):
    install(host, file_mode=0o644)
    inode = os.stat(host["dest"]).st_ino
    result = run(args(host), capsys)
    assert result["rc"] == 0 and result["changed"] is True and result["reloaded"] is False
    assert mode(host["dest"]) == 0o640 and os.stat(host["dest"]).st_ino == inode
    assert calls(host) == []
    assert result["diff"] == [{
        "before_header": f"{host['dest']} (mode, owner, group)",
        "after_header": f"{host['dest']} (mode, owner, group)",
        "before": {"mode": "0644", "owner": OWNER, "group": GROUP},
        "after": {"mode": "0640", "owner": OWNER, "group": GROUP},
    }]


def test_a_refused_dropin_changes_nothing_and_fails_with_nfts_message(host, capsys):
    install(host)
    inode = os.stat(host["dest"]).st_ino
    result = run(args(host, "table inet teletreball { BROKEN }\n"), capsys)
    assert result["rc"] == 1 and result["failed"] is True and result["changed"] is False
    assert result["reloaded"] is False and result["check_rc"] == 1
    # nft's message names the installed paths, not the private copies.
    assert f"{host['dest']}:2:1-6: Error: syntax error" in result["msg"]
    assert f"included from {host['config']}:9" in result["msg"]
    assert f"{host['dest']} was not changed" in result["msg"]
    assert str(host["dest"]) in result["check_stderr"]
    assert host["dest"].read_text() == RULES and os.stat(host["dest"]).st_ino == inode
    assert [call for call in calls(host) if "systemctl" in call] == []
    assert leftovers(host["dir"]) == []


def test_a_dropin_that_does_not_load_is_replaced_by_the_previous_one(host, capsys):
    install(host)
    os.chmod(host["dest"], 0o600)  # the previous mode comes back too
    result = run(args(host, RULES + "# FAILS_ON_LOAD\n"), capsys)
    assert result["rc"] == 1 and result["failed"] is True
    assert result["restored"] is True and result["reloaded"] is False
    assert result["changed"] is False
    assert host["dest"].read_text() == RULES and mode(host["dest"]) == 0o600
    reloads = [call for call in calls(host) if "systemctl" in call]
    assert [call["dropins"]["50-pbx.nft"] for call in reloads] == [
        RULES + "# FAILS_ON_LOAD\n", RULES]
    assert JOURNAL_SAYS in result["msg"] and JOURNAL_SAYS in result["reload_msg"]
    assert "exited with 1" in result["msg"]
    assert "put back as it was and the firewall reloaded with it" in result["msg"]
    assert leftovers(host["dir"]) == []


def test_a_new_dropin_that_does_not_load_is_removed(host, capsys):
    result = run(args(host, RULES + "# FAILS_ON_LOAD\n"), capsys)
    assert result["rc"] == 1 and result["restored"] is True and result["changed"] is False
    assert not host["dest"].exists()
    assert "removed (it was new)" in result["msg"]
    second = [call for call in calls(host) if "systemctl" in call][1]
    assert "50-pbx.nft" not in second["dropins"]


def test_a_failure_of_the_second_reload_is_reported_too(host, capsys, monkeypatch):
    install(host)
    monkeypatch.setenv("FAKE_RELOAD_FAILS", "1")
    result = run(args(host, NEW_RULES), capsys)
    assert result["rc"] == 1 and result["restored"] is True
    assert host["dest"].read_text() == RULES
    assert "loading the firewall again failed too" in result["msg"]
    assert result["msg"].count(JOURNAL_SAYS) == 2


def test_a_missing_table_after_the_reload_counts_as_a_failed_reload(host, capsys, monkeypatch):
    install(host)
    monkeypatch.setenv("FAKE_NO_TABLE", "1")
    result = run(args(host, NEW_RULES), capsys)
    assert result["rc"] == 1 and result["restored"] is True
    assert "table inet teletreball is not loaded" in result["msg"]
    assert host["dest"].read_text() == RULES


def test_without_journalctl_the_message_of_systemctl_remains(host, capsys, monkeypatch):
    (host["bin"] / "journalctl").unlink()
    monkeypatch.setenv("PATH", str(host["bin"]))
    result = run(args(host, RULES + "# FAILS_ON_LOAD\n"), capsys)
    assert result["rc"] == 1 and result["restored"] is True
    assert "Job for nftables.service failed" in result["msg"]
    assert JOURNAL_SAYS not in result["msg"]


def test_a_firewall_without_the_include_of_the_dropins_is_refused(host, capsys):
    host["config"].write_text("table inet teletreball {\n}\n")
    result = run(args(host), capsys)
    assert result["rc"] == 1 and result["changed"] is False
    assert "does not include" in result["msg"] and "role baseline" in result["msg"]
    assert not host["dest"].exists() and calls(host) == []
    assert leftovers(host["dir"]) == []


def test_a_missing_dropin_folder_fails_and_is_a_warning_in_check_mode(
    host, tmp_path, capsys, monkeypatch
):
    missing = dict(args(host), dropin_dir=str(tmp_path / "nowhere"))
    result = run(missing, capsys)
    assert result["rc"] == 1 and "role baseline" in result["msg"]
    assert "does not exist" in result["msg"]
    warnings = collect_warnings(monkeypatch)
    result = run(missing, capsys, check_mode=True)
    assert result["rc"] == 0 and result["changed"] is True
    assert "does not exist" in " ".join(warnings)
    assert not (tmp_path / "nowhere").exists()


def test_check_mode_writes_checks_and_loads_nothing(host, capsys):
    install(host)
    result = run(args(host, NEW_RULES), capsys, check_mode=True)
    assert result["rc"] == 0 and result["changed"] is True and result["reloaded"] is False
    assert result["diff"][0]["before"] == RULES and result["diff"][0]["after"] == NEW_RULES
    assert host["dest"].read_text() == RULES
    assert calls(host) == [] and leftovers(host["dir"]) == []


def test_every_bad_argument_is_reported_together(host, capsys):
    result = run(dict(args(host), name="50-pbx.nft", mode="640", table="tele-treball",
                      config="etc/nftables.conf", owner="tt-no-such-user"), capsys)
    assert result["rc"] == 1 and result["changed"] is False
    msg = result["msg"]
    assert "5 problem(s)" in msg
    assert "such as 50-pbx (without .nft)" in msg and "'640'" in msg
    assert "config must be an absolute path" in msg and "table must be" in msg
    assert "owner 'tt-no-such-user'" in msg
    assert calls(host) == [] and not host["dest"].exists()


@pytest.mark.parametrize("name", ["pbx", "5-pbx", "50-PBX", "50-", "50-../x", "50-a b", ""])
def test_names_that_are_not_dropins_are_refused(host, capsys, name):
    result = run(dict(args(host), name=name), capsys)
    assert result["rc"] == 1 and "name must be two digits" in result["msg"]


def test_a_link_in_place_of_the_dropin_is_refused(host, tmp_path, capsys):
    target = tmp_path / "elsewhere.nft"
    target.write_text(RULES)
    host["dest"].symlink_to(target)
    result = run(args(host, NEW_RULES), capsys)
    assert result["rc"] == 1 and "not a regular file" in result["msg"]
    assert target.read_text() == RULES and calls(host) == []
