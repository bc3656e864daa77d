"""Unit tests of the module teletreball_lines: settings lines of many files in one call."""

from __future__ import annotations

import os

from module_runner import load_library_module, run_main


def run(args, capsys, check_mode=False):
    return run_main(load_library_module("teletreball_lines"), args, capsys, check_mode)


def test_replaces_the_last_match_and_appends_what_is_missing(tmp_path, capsys):
    conf = tmp_path / "login.defs"
    conf.write_text("# UMASK 022\nUMASK\t022\nPASS_MAX_DAYS\t99999\n", encoding="utf-8")
    os.chmod(conf, 0o640)
    result = run({"lines": [
        {"path": str(conf), "regexp": r"^\s*#?\s*UMASK\s", "line": "UMASK\t027", "notify": "x"},
        {"path": str(conf), "regexp": r"^\s*PASS_WARN_AGE\s", "line": "PASS_WARN_AGE\t7"},
    ]}, capsys)
    assert result["changed"] and result["changed_files"] == [str(conf)]
    assert result["notify"] == ["x"]
    assert conf.read_text(encoding="utf-8") == (
        "# UMASK 022\nUMASK\t027\nPASS_MAX_DAYS\t99999\nPASS_WARN_AGE\t7\n")
    assert oct(os.stat(conf).st_mode & 0o777) == "0o640"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_file_already_right_is_not_written(tmp_path, capsys):
    conf = tmp_path / "auditd.conf"
    conf.write_text("max_log_file = 8\nmax_log_file_action = keep_logs", encoding="utf-8")
    inode = os.stat(conf).st_ino
    result = run({"lines": [
        {"path": str(conf), "regexp": r"^\s*max_log_file_action\s*=",
         "line": "max_log_file_action = keep_logs", "notify": "auditd"},
    ]}, capsys)
    assert not result["changed"] and result["notify"] == []
    assert os.stat(conf).st_ino == inode


def test_check_mode_reports_and_writes_nothing(tmp_path, capsys):
    conf = tmp_path / "a.conf"
    conf.write_text("a = 1\n", encoding="utf-8")
    result = run({"lines": [{"path": str(conf), "regexp": "^a =", "line": "a = 2"}]}, capsys,
                 check_mode=True)
    assert result["changed"] and conf.read_text(encoding="utf-8") == "a = 1\n"


def test_every_problem_is_reported_before_anything_is_written(tmp_path, capsys):
    conf = tmp_path / "a.conf"
    conf.write_text("a = 1\n", encoding="utf-8")
    result = run({"lines": [
        {"path": str(conf), "regexp": "^a =", "line": "a = 2"},
        {"path": str(tmp_path / "missing.conf"), "regexp": "^b", "line": "b"},
        {"path": str(conf), "regexp": "(", "line": "c"},
        {"path": str(conf), "regexp": "^d", "line": "d\ne = 1"},
    ]}, capsys)
    assert result["failed"]
    assert "missing.conf is not an existing regular file" in result["msg"]
    assert "does not compile" in result["msg"] and "must not contain a newline" in result["msg"]
    assert conf.read_text(encoding="utf-8") == "a = 1\n"
