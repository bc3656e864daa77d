"""The stamps of the applied configuration (module_utils/teletreball_applied.py): the
modules that write files (teletreball_files, teletreball_lines) return the labels of the
files a stopped run wrote but never applied, and teletreball_applied records the stamps
once the handlers ran. Each test plays the runs of a host in order: write and apply,
write and stop before the handlers, the repairing run."""

from __future__ import annotations

import grp
import os
import pwd
import stat

from module_runner import load_library_module, run_main

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def files(args, capsys, check_mode=False):
    return run_main(load_library_module("teletreball_files"), args, capsys, check_mode)


def lines(args, capsys, check_mode=False):
    return run_main(load_library_module("teletreball_lines"), args, capsys, check_mode)


def applied(args, capsys, check_mode=False):
    return run_main(load_library_module("teletreball_applied"), args, capsys, check_mode)


def entry(dest, content, notify):
    return {"dest": str(dest), "content": content, "mode": "0640", "owner": OWNER,
            "group": GROUP, "notify": notify}


def test_a_write_without_its_reload_is_pending_until_recorded(tmp_path, capsys):
    etc, stamps = tmp_path / "etc", tmp_path / "applied"
    etc.mkdir()
    conf = etc / "pjsip.conf"
    args = {"files": [entry(conf, "[anna]\n", "asterisk/pjsip.conf"),
                      entry(etc / "checker", "#!/bin/sh\n", None)],
            "applied_dir": str(stamps)}

    # First run: written and applied (the handlers ran, then the last one recorded).
    first = files(args, capsys)
    assert first["notify"] == ["asterisk/pjsip.conf"] and first["pending"] == []
    assert list(first["stamps"]) == [str(conf)], "a file without a handler needs no stamp"
    recorded = applied({"folder": str(stamps), "stamps": first["stamps"]}, capsys)
    assert recorded["changed"] and recorded["recorded"] == [str(conf)]
    assert stat.S_IMODE(stamps.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in stamps.iterdir())
    assert files(args, capsys)["notify"] == [], "converged: nothing to reload"

    # Second run, stopped after the write: no handler, no stamp.
    args["files"][0]["content"] = "[pere]\n"
    stopped = files(args, capsys)
    assert stopped["changed_files"] == [str(conf)] and stopped["pending"] == []

    # The third run finds the file as wanted, but not applied: its handler is notified,
    # in check mode too (and nothing is written then).
    for check_mode in (True, False):
        repair = files(args, capsys, check_mode=check_mode)
        assert not repair["changed"] and repair["changed_files"] == []
        assert repair["notify"] == ["asterisk/pjsip.conf"] == repair["pending"]
    in_check = applied({"folder": str(stamps), "stamps": repair["stamps"]}, capsys,
                       check_mode=True)
    assert in_check["changed"] and files(args, capsys)["pending"] == ["asterisk/pjsip.conf"]
    applied({"folder": str(stamps), "stamps": repair["stamps"]}, capsys)
    assert files(args, capsys)["notify"] == []
    assert not applied({"folder": str(stamps), "stamps": repair["stamps"]}, capsys)["changed"]


def test_a_file_an_exclusive_folder_removed_keeps_its_label_pending(tmp_path, capsys):
    conf_d, stamps = tmp_path / "conf.d", tmp_path / "applied"
    folder = {"path": str(conf_d), "mode": "0750", "owner": OWNER, "group": GROUP,
              "exclusive": True, "notify": "nginx"}
    both = [entry(conf_d / "a.conf", "a\n", "nginx"), entry(conf_d / "b.conf", "b\n", "nginx")]
    first = files({"directories": [folder], "files": both, "applied_dir": str(stamps)}, capsys)
    applied({"folder": str(stamps), "stamps": first["stamps"]}, capsys)

    # b.conf is no longer declared: the run removing it stops before the reload.
    args = {"directories": [folder], "files": both[:1], "applied_dir": str(stamps)}
    stopped = files(args, capsys)
    assert stopped["removed_files"] == [str(conf_d / "b.conf")] and stopped["pending"] == []
    assert stopped["notify"] == ["nginx"]
    repair = files(args, capsys)
    assert repair["removed_files"] == [] and repair["notify"] == ["nginx"] == repair["pending"]
    assert repair["stamps"] == {str(conf_d / "b.conf"): None}
    applied({"folder": str(stamps), "stamps": repair["stamps"]}, capsys)
    assert files(args, capsys)["notify"] == [] and len(list(stamps.iterdir())) == 1


def test_a_failed_validation_records_no_stamp_for_the_refused_file(tmp_path, capsys):
    etc, stamps = tmp_path / "etc", tmp_path / "applied"
    etc.mkdir()
    good = entry(etc / "a.conf", "a\n", "a")
    bad = dict(entry(etc / "b.conf", "b\n", "b"), validate="false %s")
    result = files({"files": [good, bad], "applied_dir": str(stamps)}, capsys)
    assert result["rc"] == 1 and result["notify"] == ["a"]
    assert list(result["stamps"]) == [str(etc / "a.conf")]


def test_settings_lines_are_stamped_per_file(tmp_path, capsys):
    conf, stamps = tmp_path / "auditd.conf", tmp_path / "applied"
    conf.write_text("max_log_file = 8\n", encoding="utf-8")
    args = {"lines": [{"path": str(conf), "regexp": r"^max_log_file\s*=",
                       "line": "max_log_file = 32", "notify": "auditd"}],
            "applied_dir": str(stamps)}
    first = lines(args, capsys)
    applied({"folder": str(stamps), "stamps": first["stamps"]}, capsys)
    assert lines(args, capsys)["notify"] == []

    args["lines"][0]["line"] = "max_log_file = 64"
    assert lines(args, capsys)["changed"]  # stopped before the reload of auditd
    repair = lines(args, capsys, check_mode=True)
    assert not repair["changed"] and repair["notify"] == ["auditd"] == repair["pending"]


def test_stamps_of_another_shape_are_refused(tmp_path, capsys):
    result = applied({"folder": str(tmp_path / "applied"),
                      "stamps": {"/etc/x": {"sha256": "nope"}, "relative": None}}, capsys)
    assert result["rc"] == 1 and "/etc/x" in result["msg"] and "'relative'" in result["msg"]
    assert not (tmp_path / "applied").exists()
