"""Unit tests of filter_plugins/teletreball_escape.py: a table of hostile values
for each format (issue 18). Lua strings are read back by the Lua interpreter
itself; Asterisk's formats are read back by the rules of its parser (main/
config.c, main/callerid.c, apps/app_voicemail.c), and by the real Asterisk of
the pbx scenario, whose directory holds such a name."""

from __future__ import annotations

import importlib.util
import pathlib
import re
import shutil
import subprocess

import pytest
from ansible.errors import AnsibleFilterError

REPO = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "teletreball_escape", REPO / "filter_plugins" / "teletreball_escape.py")
escape = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(escape)

# Texts a name, a department, a council name or a prompt may hold once control
# characters are refused.
HOSTILE = [
    "Núria D'Amat i Pérez-Soler",
    "Secretaria, Registre i Arxiu",
    'Joan "Jo" Puig',
    "A;B", "A;--B", "end --;", ";--", "trailing\\", "\\;", "a\\\\b", '\\"',
    "<script>alert(1)</script>", "[click](https://example.org/)", "![x](y)",
    "*bold* _it_ `code` ~~gone~~", "&amp; &#60;", "# title #", "| a | b |",
    "${EXTEN}", "$[1+1]", "{{ 7 * 7 }}", "{% raw %}", "]]", "[[", "--[[ x ]]",
    "(unbalanced", "x, y", "=> 1234,Evil,evil@example.org", "-v --version",
]


# --- Asterisk ------------------------------------------------------------------------


def asterisk_config_value(line):
    """A value as Asterisk's config parser keeps it: cut at the first ; that is
    not escaped (a comment, or ;-- a block comment), and each \\; made ;."""
    out, i = [], 0
    while i < len(line):
        char = line[i]
        if char == ";":
            if out and out[-1] == "\\":
                out[-1] = ";"
                i += 1
                continue
            break
        out.append(char)
        i += 1
    return "".join(out).strip()


def asterisk_callerid_name(value):
    """ast_callerid_parse's name: before the last <, quotes stripped, \\ escapes removed."""
    name = value[:value.rindex("<")].strip()
    assert name.startswith('"') and name.endswith('"'), value
    return re.sub(r"\\(.)", r"\1", name[1:-1])


@pytest.mark.parametrize("text", HOSTILE)
def test_an_asterisk_value_keeps_every_character(text):
    written = escape.asterisk_value(text)
    assert asterisk_config_value(f"key = {written}") == f"key = {text}".strip()


@pytest.mark.parametrize("text", HOSTILE)
def test_a_caller_id_is_read_back_whole(text):
    written = escape.asterisk_callerid(text, "2001")
    kept = asterisk_config_value(written)
    assert kept.endswith(" <2001>")
    assert asterisk_callerid_name(kept) == text


@pytest.mark.parametrize("text", HOSTILE)
def test_a_voicemail_name_stays_in_its_field(text):
    line = f"2001 => 1234,{escape.asterisk_voicemail_field(text)},ana@example.org,,attach=yes"
    fields = asterisk_config_value(line).split(" => ", 1)[1].split(",")
    assert fields[0] == "1234" and fields[2:] == ["ana@example.org", "", "attach=yes"], fields
    assert fields[1] == text.replace(",", " ").strip()


def test_a_caller_id_needs_a_number():
    with pytest.raises(AnsibleFilterError, match="is not a number"):
        escape.asterisk_callerid("Anna", "2001> ;x")


@pytest.mark.parametrize("function", [escape.asterisk_value, escape.lua_string,
                                      escape.markdown_text, escape.sip_quoted])
def test_only_texts_are_escaped(function):
    with pytest.raises(AnsibleFilterError, match="expected a text"):
        function(["a list"])


# --- Lua -------------------------------------------------------------------------------

LUA = shutil.which("lua5.4")


@pytest.mark.skipif(LUA is None, reason="lua5.4 is installed by harness/setup-host")
def test_lua_reads_every_string_back(tmp_path):
    texts = [*HOSTILE, "line\nbreak", "nul\x00byte", "del\x7f", "tab\t", "]=]"]
    script = tmp_path / "config.lua"
    script.write_text(
        "local texts = {\n"
        + "".join(f"  {escape.lua_string(text)};\n" for text in texts)
        + "}\nfor _, text in ipairs(texts) do io.write(#text, ':', text) end\n",
        encoding="utf-8")
    subprocess.run(["luac5.4", "-p", str(script)], check=True)
    out = subprocess.run([LUA, str(script)], check=True, capture_output=True).stdout
    expected = b"".join(b"%d:%s" % (len(t.encode()), t.encode()) for t in texts)
    assert out == expected


# --- Markdown --------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_shows_the_text_as_written(text):
    written = escape.markdown_text(text)
    # Every character that could start markup in a line has its backslash ...
    assert not re.search(r"(?<!\\)[`*_\[\]<>&~|#!]", re.sub(r"\\\\", "", written)), written
    # ... and CommonMark shows a backslash-escaped punctuation as itself.
    assert re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", written) == text


def test_an_ordinary_name_is_left_as_it_is():
    for text in ["Núria D'Amat i Pérez-Soler", "Ajuntament de Sant Martí (Girona)"]:
        assert escape.markdown_text(text) == text
        assert escape.asterisk_value(text) == text


# --- Free-text settings ----------------------------------------------------------------


def test_settings_with_control_characters_are_named_and_refused():
    errors = escape.text_errors({
        "teletreball_council_name": "Ajuntament\n[x]", "pbx_prompts.welcome.ca": "Bon dia",
        "pbx_holidays[0] (2026-12-25) name": "Nadal\u202e", "conference_muc_title": 3})
    assert errors == [
        "teletreball_council_name holds U+000A (a control or unassigned character) at "
        "character 11; line breaks, tabs and other control or invisible characters are refused.",
        "pbx_holidays[0] (2026-12-25) name holds U+202E (right-to-left override) at character 6; "
        "line breaks, tabs and other control or invisible characters are refused.",
        "conference_muc_title must be a text.",
    ]


def test_text_errors_needs_a_mapping():
    with pytest.raises(AnsibleFilterError, match="mapping"):
        escape.text_errors(["x"])


# --- Stamps of applied files -----------------------------------------------------------


@pytest.mark.parametrize("dest", ["/etc/asterisk/keys/sip.crt", "/etc/a b/c%d.key",
                                  '/etc/x"y\\z/ñ.crt'])
def test_a_hooks_stamp_is_where_the_modules_read_it(tmp_path, dest):
    """The stamp a hook writes at the filter's path, with the dest as JSON, is the
    stamp teletreball_applied reads for that file."""
    import json
    import sys
    sys.path.insert(0, str(REPO / "module_utils"))
    try:
        import teletreball_applied as applied
    finally:
        sys.path.pop(0)
    path = escape.applied_stamp(dest, str(tmp_path))
    assert pathlib.Path(path).parent == tmp_path
    stamp = {"dest": dest, "notify": ["asterisk_tls"], "sha256": "0" * 64}
    pathlib.Path(path).write_text(
        f'{{"dest": {json.dumps(dest)}, "notify": ["asterisk_tls"], "sha256": "{"0" * 64}"}}\n',
        encoding="utf-8")
    assert applied.read_stamp(str(tmp_path), dest) == stamp
    assert applied.stamps_in(str(tmp_path), str(pathlib.PurePosixPath(dest).parent)) == {
        dest: stamp}


@pytest.mark.parametrize("dest, folder", [("etc/sip.crt", "/var/lib/x"), ("/etc/sip.crt", "x"),
                                          (None, "/var/lib/x")])
def test_a_stamp_needs_absolute_paths(dest, folder):
    with pytest.raises(AnsibleFilterError, match="teletreball_applied_stamp"):
        escape.applied_stamp(dest, folder)
