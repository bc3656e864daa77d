# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that write a text into one file format so that the format reads it as
that text and nothing more (issue 18).

The preflight refuses line breaks and other control characters in every
directory field and free-text setting (module_utils/teletreball_directory.py,
``text_problem``). These filters escape what is left for each format:

* Asterisk's configuration files: a ``;`` starts a comment, and ``;--`` a block
  comment that would hide the lines after it, unless written ``\\;``.
* A caller ID in them: the name between double quotes, with ``\\`` and ``"``
  escaped (Asterisk's ast_callerid_parse removes the quotes and the escapes).
* A voicemail.conf mailbox line: its fields are separated by commas.
* A Lua string of Prosody's configuration.
* Markdown text of the welcome packs (and so the HTML a viewer makes of it).
* A file's path in the name of its stamp (module_utils/teletreball_applied.py),
  percent-encoded, for a shell hook that records what it applied.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re

from ansible.errors import AnsibleFilterError

# Characters that start markup in a line of CommonMark/GitHub Markdown text that
# is not at the start of the line: emphasis, code, links, raw HTML, entities,
# strikethrough, tables, and a heading's closing #. A backslash before any ASCII
# punctuation shows that character as itself.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>&~|#!])")


def _text(value, what):
    if not isinstance(value, str):
        raise AnsibleFilterError(f"{what}: expected a text, got {type(value).__name__}")
    return value


def asterisk_value(value):
    """A value of an Asterisk .conf file: every ; escaped."""
    return _text(value, "teletreball_asterisk_value").replace(";", "\\;")


def sip_quoted(name):
    """A SIP display name as a quoted string (RFC 3261 25.1: \\ and " escaped)."""
    name = _text(name, "teletreball_sip_quoted").replace("\\", "\\\\").replace('"', '\\"')
    return f'"{name}"'


def asterisk_callerid(name, number):
    """``"name" <number>`` for an Asterisk .conf file (pjsip.conf's callerid):
    the quoted string of ``sip_quoted``, which Asterisk's ast_callerid_parse reads."""
    name = sip_quoted(name)
    number = str(number)
    if not re.fullmatch(r"[0-9+*#]*", number):
        raise AnsibleFilterError(f"teletreball_asterisk_callerid: '{number}' is not a number")
    return asterisk_value(f"{name} <{number}>")


def asterisk_voicemail_field(value):
    """A field of a voicemail.conf mailbox line: a comma would start the next
    field (the name would push the e-mail address out), so it becomes a space."""
    return asterisk_value(_text(value, "teletreball_asterisk_voicemail_field").replace(",", " "))


def lua_string(value):
    """A double-quoted Lua string: \\ and " escaped, other control characters
    as decimal escapes (Lua 5.1 to 5.4 and LuaJIT read them the same)."""
    out = ['"']
    for char in _text(value, "teletreball_lua_string"):
        if char in '\\"':
            out.append("\\" + char)
        elif ord(char) < 32 or ord(char) == 127:
            out.append(f"\\{ord(char):03d}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def markdown_text(value):
    """Text inside a Markdown line, shown as written."""
    return _MARKDOWN.sub(r"\\\1", _text(value, "teletreball_markdown_text"))


_UTILS: dict = {}


def _module_utils(name):
    """module_utils/<name>.py of this repository, loaded once."""
    if name not in _UTILS:
        root = pathlib.Path(__file__).resolve().parents[1]
        path = root / "module_utils" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"{name}_for_filters", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _UTILS[name] = module
    return _UTILS[name]


def _directory_utils():
    """module_utils/teletreball_directory.py, the one home of the text rule."""
    return _module_utils("teletreball_directory")


def applied_stamp(dest, folder):
    """The path of the stamp of the file ``dest`` in the stamps' ``folder``
    (module_utils/teletreball_applied.py: ``dest`` percent-encoded), for a hook
    that applies the file outside Ansible and records it as applied."""
    for value, what in ((dest, "the file"), (folder, "the folder")):
        if not isinstance(value, str) or not value.startswith("/"):
            raise AnsibleFilterError(f"teletreball_applied_stamp: {what} must be an absolute path")
    return _module_utils("teletreball_applied").stamp_path(folder, dest)


def text_errors(texts):
    """Problems of free-text settings: ``texts`` maps a setting's name (as the
    message should name it) to its text. Returns one message per refused text."""
    if not isinstance(texts, dict):
        raise AnsibleFilterError("teletreball_text_errors: expected a mapping of name to text")
    errors = []
    for name, value in texts.items():
        if not isinstance(value, str):
            errors.append(f"{name} must be a text.")
        elif (problem := _directory_utils().text_problem(value)) is not None:
            errors.append(f"{name} {problem}.")
    return errors


class FilterModule:
    """teletreball escaping filters."""

    def filters(self):
        return {
            "teletreball_asterisk_value": asterisk_value,
            "teletreball_asterisk_callerid": asterisk_callerid,
            "teletreball_sip_quoted": sip_quoted,
            "teletreball_asterisk_voicemail_field": asterisk_voicemail_field,
            "teletreball_lua_string": lua_string,
            "teletreball_markdown_text": markdown_text,
            "teletreball_text_errors": text_errors,
            "teletreball_applied_stamp": applied_stamp,
        }
