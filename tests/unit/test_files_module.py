"""Unit tests of the module teletreball_files: many files in one call.

Everything happens under pytest's temporary folder; files are owned by the user
running the tests, so the tests pass as root and as an ordinary user.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shlex
import stat
import sys
import tempfile

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args
from module_runner import collect_warnings, load_library_module, run_main

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
PRIVATE = "password = hunter2-do-not-show\n"


def run(args, capsys, check_mode=False):
    return run_main(load_library_module("teletreball_files"), args, capsys, check_mode)


def entry(dest, content, mode="0640", **extra):
    return dict(dest=str(dest), content=content, mode=mode, owner=OWNER, group=GROUP, **extra)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def leftovers(folder):
    """Hidden candidates left in ``folder``."""
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def validator(tmp_path, code, name="check.py"):
    """A validate command running ``code`` (Python) with the candidate as sys.argv[1]."""
    script = tmp_path / name
    script.write_text("import sys, os, json\npath = sys.argv[1]\n" + code, encoding="utf-8")
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} %s"


@pytest.fixture
def etc(tmp_path):
    folder = tmp_path / "etc"
    folder.mkdir()
    return folder


def test_creates_files_with_their_mode_and_reports_labels(etc, capsys):
    result = run({"files": [
        entry(etc / "a.conf", "alpha\n", notify="reload a"),
        entry(etc / "b.conf", "beta\n", mode="0600", notify="reload b"),
        entry(etc / "c.conf", "gamma\n", notify="reload a"),
    ]}, capsys)
    assert result["rc"] == 0 and result["changed"] is True
    assert result["changed_files"] == [str(etc / n) for n in ("a.conf", "b.conf", "c.conf")]
    assert result["notify"] == ["reload a", "reload b"]
    assert (etc / "a.conf").read_text() == "alpha\n"
    assert mode(etc / "a.conf") == 0o640 and mode(etc / "b.conf") == 0o600
    assert leftovers(etc) == []


def test_unchanged_files_are_not_touched(etc, capsys, monkeypatch):
    files = [entry(etc / "a.conf", "alpha\n", notify="a"), entry(etc / "b.conf", "beta\n")]
    run({"files": files}, capsys)
    before = [os.stat(etc / name) for name in ("a.conf", "b.conf")]
    module = load_library_module("teletreball_files")
    # Candidates are made by module_utils/teletreball_hostfiles with tempfile.mkstemp.
    monkeypatch.setattr(tempfile, "mkstemp", lambda **kw: pytest.fail("wrote a file"))
    result = run_main(module, {"files": files}, capsys)
    assert result["changed"] is False
    assert result["changed_files"] == [] and result["notify"] == [] and result["diff"] == []
    after = [os.stat(etc / name) for name in ("a.conf", "b.conf")]
    for old, new in zip(before, after, strict=True):
        # Same file, not rewritten, not even chmod-ed (that would move the ctime).
        assert (old.st_ino, old.st_mtime_ns, old.st_ctime_ns) == (
            new.st_ino, new.st_mtime_ns, new.st_ctime_ns)


def test_a_wrong_mode_alone_is_fixed_without_rewriting(etc, capsys):
    path = etc / "a.conf"
    run({"files": [entry(path, "alpha\n")]}, capsys)
    os.chmod(path, 0o604)
    inode, mtime = os.stat(path).st_ino, os.stat(path).st_mtime_ns
    result = run({"files": [entry(path, "alpha\n", notify="a")]}, capsys)
    assert result["changed"] is True and result["changed_files"] == [str(path)]
    assert result["notify"] == ["a"]
    assert mode(path) == 0o640
    assert (os.stat(path).st_ino, os.stat(path).st_mtime_ns) == (inode, mtime)
    assert result["diff"] == [{
        "before_header": f"{path} (mode, owner, group)",
        "after_header": f"{path} (mode, owner, group)",
        "before": {"mode": "0604", "owner": OWNER, "group": GROUP},
        "after": {"mode": "0640", "owner": OWNER, "group": GROUP},
    }]


def test_a_changed_file_is_validated_as_a_hidden_candidate_next_to_it(etc, tmp_path, capsys):
    path = etc / "a.conf"
    path.write_text("old\n")
    seen = tmp_path / "seen.json"
    check = validator(tmp_path, f"""
info = os.stat(path)
json.dump({{"path": path, "mode": info.st_mode & 0o7777, "content": open(path).read()}},
          open({str(seen)!r}, "w"))
sys.exit(0 if "new" in open(path).read() else 1)
""")
    result = run({"files": [entry(path, "new\n", validate=check, notify="a")]}, capsys)
    assert result["rc"] == 0 and result["changed_files"] == [str(path)]
    assert path.read_text() == "new\n" and mode(path) == 0o640
    candidate = json.loads(seen.read_text())
    assert os.path.dirname(candidate["path"]) == str(etc)
    assert os.path.basename(candidate["path"]).startswith(".a.conf.")
    assert not candidate["path"].endswith(".conf")
    assert candidate["mode"] == 0o640  # the final mode, before the validator runs
    assert candidate["content"] == "new\n"
    assert leftovers(etc) == []


def test_a_failed_validation_keeps_the_file_and_reports_what_was_written(
    etc, tmp_path, capsys
):
    first, broken = etc / "first.conf", etc / "broken.conf"
    broken.write_text("good\n")
    os.chmod(broken, 0o640)
    inode = os.stat(broken).st_ino
    check = validator(tmp_path, 'print("line 1: unknown directive in", path); sys.exit(3)')
    result = run({"files": [
        entry(first, "one\n", notify="first"),
        entry(broken, "bad\n", validate=check, notify="broken"),
        entry(etc / "never.conf", "never\n", notify="never"),
    ]}, capsys)
    assert result["rc"] == 1 and result["failed"] is True
    assert str(broken) in result["msg"] and "unknown directive" in result["msg"]
    assert "exited with 3" in result["msg"]
    assert f"Already changed in this call: {first}." in result["msg"]
    # The validator's output names the file, not the random candidate.
    assert result["validate_stdout"] == f"line 1: unknown directive in {broken}\n"
    assert result["failed_dest"] == str(broken) and result["validate_rc"] == 3
    assert result["changed"] is True
    assert result["changed_files"] == [str(first)] and result["notify"] == ["first"]
    assert broken.read_text() == "good\n" and os.stat(broken).st_ino == inode
    assert first.read_text() == "one\n"
    assert not (etc / "never.conf").exists()
    assert leftovers(etc) == []


def test_a_validator_that_cannot_run_fails_cleanly(etc, capsys):
    path = etc / "a.conf"
    result = run({"files": [entry(path, "x\n", validate="/nonexistent/checker %s")]}, capsys)
    assert result["failed"] is True and "could not run" in result["msg"]
    assert str(path) in result["msg"]
    assert not path.exists() and leftovers(etc) == []


def test_check_mode_writes_nothing_and_runs_no_validator(etc, tmp_path, capsys):
    changed, attrs = etc / "changed.conf", etc / "attrs.conf"
    changed.write_text("old\n")
    os.chmod(changed, 0o640)
    attrs.write_text("same\n")
    os.chmod(attrs, 0o600)
    ran = tmp_path / "ran"
    check = validator(tmp_path, f"open({str(ran)!r}, 'w').close()")
    stats = {p: os.stat(p) for p in (changed, attrs)}
    result = run({
        "directories": [{"path": str(etc / "new.d"), "mode": "0750", "owner": OWNER,
                         "group": GROUP}],
        "files": [
            entry(etc / "new.d" / "new.conf", "new\n", validate=check, notify="new"),
            entry(changed, "new\n", validate=check, notify="changed"),
            entry(attrs, "same\n", notify="attrs"),
        ],
    }, capsys, check_mode=True)
    assert result["rc"] == 0 and result["changed"] is True
    assert result["changed_files"] == [
        str(etc / "new.d" / "new.conf"), str(changed), str(attrs)]
    assert result["changed_directories"] == [str(etc / "new.d")]
    assert result["notify"] == ["attrs", "changed", "new"]
    assert not (etc / "new.d").exists() and not ran.exists()
    assert changed.read_text() == "old\n" and mode(attrs) == 0o600
    for path, old in stats.items():
        new = os.stat(path)
        assert (old.st_ino, old.st_mtime_ns, old.st_ctime_ns) == (
            new.st_ino, new.st_mtime_ns, new.st_ctime_ns)
    assert sorted(os.listdir(etc)) == ["attrs.conf", "changed.conf"]


def test_diff_lists_each_changed_content_and_attribute(etc, capsys):
    old = etc / "old.conf"
    old.write_text("one\ntwo\n")
    os.chmod(old, 0o600)
    new = etc / "new.conf"
    result = run({"files": [entry(old, "one\nthree\n"), entry(new, "fresh\n")]}, capsys)
    assert result["diff"] == [
        {"before_header": str(old), "after_header": str(old),
         "before": "one\ntwo\n", "after": "one\nthree\n"},
        {"before_header": f"{old} (mode, owner, group)",
         "after_header": f"{old} (mode, owner, group)",
         "before": {"mode": "0600", "owner": OWNER, "group": GROUP},
         "after": {"mode": "0640", "owner": OWNER, "group": GROUP}},
        {"before_header": str(new),
         "after_header": f"{new} (new, mode 0640, owner {OWNER}, group {GROUP})",
         "before": "", "after": "fresh\n"},
    ]


def test_secret_content_is_never_returned(etc, tmp_path, capsys):
    plain, secret = etc / "plain.conf", etc / "secret.conf"
    secret.write_text("password = old-secret\n")
    result = run({"files": [
        entry(plain, "plain text\n"),
        entry(secret, PRIVATE, secret=True, notify="auth"),
    ]}, capsys)
    assert result["rc"] == 0 and secret.read_text() == PRIVATE
    assert "hunter2" not in result["raw"] and "old-secret" not in result["raw"]
    assert result["diff"][1]["before"] == "(secret content, not shown)\n"
    assert "changed" in result["diff"][1]["after"]
    # No content at all in the arguments returned, secret or not.
    returned = result["invocation"]["module_args"]["files"]
    assert [item["content"] for item in returned] == ["NOT_LOGGING_PARAMETER"] * 2

    # A validator that quotes the file: its output is not returned for a secret file.
    check = validator(tmp_path, "print(open(path).read()); sys.exit(1)")
    failed = run({"files": [entry(secret, PRIVATE + "more\n", secret=True, validate=check)]},
                 capsys)
    assert failed["failed"] is True and str(secret) in failed["msg"]
    assert "hunter2" not in failed["raw"] and "validate_stdout" not in failed
    assert "output not shown" in failed["msg"]


def test_contents_are_not_logged_on_the_host(etc, capsys, monkeypatch):
    logged = []
    monkeypatch.setattr(AnsibleModule, "log",
                        lambda self, msg, log_args=None: logged.append((msg, log_args)))
    run({"files": [entry(etc / "a.conf", "visible line\nsecond line\n"),
                   entry(etc / "s.conf", PRIVATE, secret=True)]}, capsys)
    text = json.dumps(logged)
    assert str(etc / "a.conf") in text and str(etc / "s.conf") in text
    assert "visible line" not in text and "hunter2" not in text


def test_why_contents_are_not_no_log_suboptions(capsys, monkeypatch):
    """What ansible-core does with a no_log suboption in a list of dicts, the reason the
    module hides contents itself: it logs a multi-line value on the host anyway, masks
    the diff, and masks a short value wherever it occurs in the output."""
    logged = []
    monkeypatch.setattr(AnsibleModule, "log",
                        lambda self, msg, log_args=None: logged.append(msg))
    spec = {"files": {"type": "list", "elements": "dict", "options": {
        "dest": {"type": "str"}, "content": {"type": "str", "no_log": True}}}}
    files = [{"dest": "/etc/box.conf", "content": "user = anna\nkey = k\n"},
             {"dest": "/etc/b", "content": "x"}]
    with patch_module_args({"files": files}), pytest.raises(SystemExit):
        module = AnsibleModule(argument_spec=spec)
        module.exit_json(changed=True, diff=[{"before": "", "after": files[0]["content"]}])
    result = json.loads(capsys.readouterr().out)
    assert "key = k" in logged[0]  # the log holds the repr, with \n escaped: no match
    assert result["diff"][0]["after"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert result["invocation"]["module_args"]["files"][0]["dest"] == "/etc/bo********.conf"


def test_missing_owner_or_group_fails_before_anything_is_written(etc, capsys):
    result = run({"files": [
        entry(etc / "a.conf", "a\n"),
        dict(entry(etc / "b.conf", "b\n"), owner="tt-no-such-user"),
        dict(entry(etc / "c.conf", "c\n"), group="tt-no-such-group"),
    ]}, capsys)
    assert result["failed"] is True and result["changed"] is False
    assert f"owner 'tt-no-such-user' of {etc / 'b.conf'} is not a user" in result["msg"]
    assert f"group 'tt-no-such-group' of {etc / 'c.conf'} is not a group" in result["msg"]
    assert os.listdir(etc) == []


def test_missing_owner_is_a_warning_in_check_mode(etc, capsys, monkeypatch):
    # Collected here: once controller code is imported, warnings go to its display.
    warnings = collect_warnings(monkeypatch)
    result = run({"files": [dict(entry(etc / "a.conf", "a\n"), owner="tt-no-such-user")]},
                 capsys, check_mode=True)
    assert result["rc"] == 0 and result["changed_files"] == [str(etc / "a.conf")]
    assert "owner 'tt-no-such-user'" in " ".join(warnings)


def test_every_bad_argument_is_reported_together(etc, capsys):
    result = run({"files": [
        entry(etc / "a.conf", "a\n", mode="644"),
        entry(etc / "b.conf", "b\n", mode="0o644"),
        entry("relative.conf", "r\n"),
        entry(etc / "c.conf", "c\n", validate="/usr/bin/true"),
        entry(etc / "d.conf", "d\n", validate="check 'unclosed %s"),
        entry(etc / "a.conf", "again\n"),
    ]}, capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("teletreball_files: 6 problem(s):")
    for text in (f"mode of {etc / 'a.conf'} must be four octal digits", "not '0o644'",
                 "file relative.conf must be an absolute path", "must contain %s",
                 "cannot be split", f"file {etc / 'a.conf'} is listed twice"):
        assert text in result["msg"]
    assert os.listdir(etc) == []


def test_refuses_a_link_and_a_missing_folder(etc, capsys):
    (etc / "target").write_text("t\n")
    os.symlink(etc / "target", etc / "link.conf")
    result = run({"files": [entry(etc / "link.conf", "x\n")]}, capsys)
    assert result["failed"] is True and "not a regular file" in result["msg"]
    assert (etc / "target").read_text() == "t\n"
    result = run({"files": [entry(etc / "nowhere" / "a.conf", "x\n")]}, capsys)
    assert result["failed"] is True and "add it to directories" in result["msg"]


def test_directories_are_made_with_their_parents_then_corrected(etc, capsys):
    deep = etc / "app" / "conf.d"
    spec = {"path": str(deep), "mode": "0750", "owner": OWNER, "group": GROUP}
    files = [entry(deep / "a.conf", "a\n")]
    result = run({"directories": [spec], "files": files}, capsys)
    assert result["rc"] == 0
    assert result["changed_directories"] == [str(deep)]
    assert mode(deep) == 0o750 and mode(etc / "app") == 0o750
    assert (deep / "a.conf").read_text() == "a\n"
    assert result["diff"][0]["before"] == {"path": str(deep), "state": "absent"}

    again = run({"directories": [spec], "files": files}, capsys)
    assert again["changed"] is False and again["changed_directories"] == []

    os.chmod(deep, 0o700)
    fixed = run({"directories": [spec], "files": files}, capsys)
    assert fixed["changed_directories"] == [str(deep)] and fixed["changed_files"] == []
    assert fixed["changed"] is True and mode(deep) == 0o750

    (etc / "plain").write_text("")
    blocked = run({"directories": [dict(spec, path=str(etc / "plain" / "sub"))],
                   "files": []}, capsys)
    assert blocked["failed"] is True and "is not a folder" in blocked["msg"]


def test_follow_writes_the_file_a_link_points_to_and_keeps_the_link(tmp_path, capsys):
    target = tmp_path / "locale.conf"
    target.write_text("LANG=C\n", encoding="utf-8")
    link = tmp_path / "locale"
    link.symlink_to("locale.conf")
    refused = run({"files": [entry(link, "LANG=ca_ES.UTF-8\n")]}, capsys)
    assert refused["failed"] and "not a regular file" in refused["msg"]
    result = run({"files": [entry(link, "LANG=ca_ES.UTF-8\n", follow=True)]}, capsys)
    assert result["changed"] and link.is_symlink()
    assert target.read_text(encoding="utf-8") == "LANG=ca_ES.UTF-8\n"
    again = run({"files": [entry(link, "LANG=ca_ES.UTF-8\n", follow=True)]}, capsys)
    assert again["changed"] is False


def folder_entry(path, mode="0700", **extra):
    return dict(path=str(path), mode=mode, owner=OWNER, group=GROUP, **extra)


def test_an_exclusive_folder_keeps_only_the_declared_files(etc, capsys):
    certs = etc / "certs"
    certs.mkdir()
    (certs / "old.crt").write_text("old\n")
    os.symlink("/nowhere", certs / "dangling.crt")
    (certs / "sub").mkdir()
    (certs / "sub" / "kept.crt").write_text("kept\n")
    args = {"directories": [folder_entry(certs, exclusive=True, notify="ca")],
            "files": [entry(certs / "proxy.crt", "proxy\n", notify="ca")]}
    checked = run(args, capsys, check_mode=True)
    assert checked["removed_files"] == [str(certs / "dangling.crt"), str(certs / "old.crt")]
    assert (certs / "old.crt").exists()  # check mode removes nothing
    result = run(args, capsys)
    assert result["changed"] is True and result["notify"] == ["ca"]
    assert result["removed_files"] == [str(certs / "dangling.crt"), str(certs / "old.crt")]
    assert sorted(os.listdir(certs)) == ["proxy.crt", "sub"]
    assert (certs / "sub" / "kept.crt").exists()
    again = run(args, capsys)
    assert again["changed"] is False and again["removed_files"] == [] and again["notify"] == []


def test_a_removal_alone_is_a_change_with_the_folders_label(etc, capsys):
    certs = etc / "certs"
    certs.mkdir(mode=0o700)
    os.chmod(certs, 0o700)
    (certs / "old.crt").write_text("old\n")
    result = run({"directories": [folder_entry(certs, exclusive=True, notify="ca")],
                  "files": []}, capsys)
    assert result["changed"] is True and result["changed_files"] == []
    assert result["notify"] == ["ca"] and os.listdir(certs) == []


def test_a_folder_that_is_not_exclusive_keeps_other_files(etc, capsys):
    (etc / "other.conf").write_text("x\n")
    os.chmod(etc, 0o700)
    result = run({"directories": [folder_entry(etc)],
                  "files": [entry(etc / "a.conf", "a\n")]}, capsys)
    assert result["removed_files"] == [] and (etc / "other.conf").exists()


def source_entry(dest, src, mode="0640", **extra):
    return dict(dest=str(dest), src=str(src), mode=mode, owner=OWNER, group=GROUP, **extra)


def test_src_copies_a_file_of_the_host_and_keeps_a_secret_out_of_the_result(etc, tmp_path, capsys):
    pki = tmp_path / "pki"
    pki.mkdir()
    (pki / "web.key").write_text(PRIVATE)
    (pki / "web.crt").write_bytes(b"certificate\n")
    files = [source_entry(etc / "key.pem", pki / "web.key", secret=True, notify="xrdp"),
             source_entry(etc / "cert.pem", pki / "web.crt", mode="0644", notify="xrdp")]
    result = run({"files": files}, capsys)
    assert result["rc"] == 0
    assert result["changed_files"] == [str(etc / "key.pem"), str(etc / "cert.pem")]
    assert (etc / "key.pem").read_text() == PRIVATE and mode(etc / "key.pem") == 0o640
    assert "hunter2" not in result["raw"]
    assert result["invocation"]["module_args"]["files"][0]["src"] == str(pki / "web.key")
    # The same sources again: nothing to do; a renewed source is copied again.
    assert run({"files": files}, capsys)["changed"] is False
    (pki / "web.crt").write_bytes(b"renewed\n")
    again = run({"files": files}, capsys)
    assert again["changed_files"] == [str(etc / "cert.pem")]
    assert (etc / "cert.pem").read_bytes() == b"renewed\n"


def test_src_must_be_one_regular_file_that_exists(etc, tmp_path, capsys):
    (tmp_path / "real.crt").write_text("c\n")
    os.symlink(tmp_path / "real.crt", tmp_path / "link.crt")
    both = entry(etc / "both.pem", "text\n", src=str(tmp_path / "real.crt"))
    neither = dict(dest=str(etc / "neither.pem"), mode="0644", owner=OWNER, group=GROUP)
    result = run({"files": [
        source_entry(etc / "a.pem", tmp_path / "missing.crt"),
        source_entry(etc / "b.pem", tmp_path / "link.crt"),
        source_entry(etc / "c.pem", "relative.crt"),
        both, neither,
    ]}, capsys)
    assert result["failed"] is True and result["msg"].startswith("teletreball_files: 5 problem(s):")
    for text in ("missing.crt of", "does not exist", "link.crt of", "not a regular file",
                 "must be an absolute path", "needs exactly one of content and src"):
        assert text in result["msg"]
    assert os.listdir(etc) == []
    # Check mode reads the source too: a missing one is an error there as well.
    checked = run({"files": [source_entry(etc / "a.pem", tmp_path / "missing.crt")]}, capsys,
                  check_mode=True)
    assert checked["failed"] is True and "does not exist" in checked["msg"]
