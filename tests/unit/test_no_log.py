"""Secrets never reach Ansible's output: every task that handles one is no_log.

With ``-v`` Ansible prints each task's result (a set_fact prints the facts it
set), and with ``-vvv`` also the arguments a module was called with. A task
that holds a secret must therefore run with ``no_log`` (on the task or an
enclosing block), unless its module hides the secret options itself
(``no_log=True`` in its argument_spec, as teletreball_admins does for the
password hashes). A task holds a secret when it

* calls one of our modules whose documentation asks for ``no_log`` on the task
  (they take or return secrets: passwords, TOTP seeds, keys, generated secrets);
* sets a fact whose name says it holds secrets (``_pbx_secrets``,
  ``_vpn_queued_secret_files``...) to anything but an empty list or mapping;
* reads a secret's value (``_conference_secrets[...]``, not its keys), queues
  the content of a file marked ``secret: true`` or passes such a queue on.

molecule/stack proves the same on a real ``-vvv`` run of site.yml; this test
names the task at fault before any container starts.
"""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
TASK_KEYWORDS = {
    "name", "tags", "when", "no_log", "notify", "listen", "register", "loop", "loop_control",
    "vars", "args", "changed_when", "failed_when", "delegate_to", "run_once", "become",
    "become_user", "check_mode", "until", "retries", "delay", "environment", "diff",
    "ignore_errors", "throttle", "delegate_facts", "any_errors_fatal", "timeout",
}
BLOCK_KEYS = ("block", "rescue", "always")
INCLUDES = {"import_tasks", "include_tasks", "import_role", "include_role"}
# Reading a secret's value: X_secrets[...] or X_secrets.get(...) and the like;
# its keys (.keys(), `in`, `is defined`) are not secrets.
SECRET_VALUE = re.compile(r"\b\w*_secrets\b(?!\s*\.keys\(\)|\s+is\s+(not\s+)?defined)(\s*[\[.|])")
SECRET_FACT = re.compile(r"secret")
SECRET_QUEUE = re.compile(r"\b\w*_queued_secret_files\b")


def modules_asking_for_no_log() -> set[str]:
    """Our modules whose DOCUMENTATION tells to use no_log on the task."""
    names = set()
    for path in sorted((REPO / "library").glob("teletreball_*.py")):
        text = path.read_text(encoding="utf-8")
        documentation = text.split('DOCUMENTATION = r"""', 1)[-1].split('"""', 1)[0]
        if re.search(r"C\(no_log\)", documentation):
            names.add(path.stem)
    return names


def task_files() -> list[pathlib.Path]:
    patterns = ("roles/*/tasks/*.yml", "roles/*/handlers/*.yml", "playbooks/*.yml")
    return sorted(path for pattern in patterns for path in REPO.glob(pattern))


def walk(items, inherited: bool):
    """(task, no_log in force) of a task list, blocks and plays included."""
    for item in items or []:
        if not isinstance(item, dict):
            continue
        no_log = inherited or bool(item.get("no_log"))
        if "hosts" in item or "import_playbook" in item:
            for key in ("pre_tasks", "roles", "tasks", "post_tasks", "handlers"):
                if key != "roles":
                    yield from walk(item.get(key), no_log)
            continue
        if any(key in item for key in BLOCK_KEYS):
            for key in BLOCK_KEYS:
                yield from walk(item.get(key), no_log)
            continue
        yield item, no_log


def module_of(task: dict) -> str:
    keys = [key for key in task if key not in TASK_KEYWORDS]
    return keys[0].split(".")[-1] if keys else ""


def is_empty_literal(value) -> bool:
    return value in ([], {}) or (isinstance(value, str) and value.strip() in ("[]", "{}"))


def reasons(task: dict, secret_modules: set[str]) -> list[str]:
    module = module_of(task)
    if module in INCLUDES:
        return []
    body = {key: value for key, value in task.items() if key not in ("name", "tags", "no_log")}
    text = yaml.safe_dump(body, width=10_000)
    found = []
    if module in secret_modules and module != "teletreball_files":
        found.append(f"calls {module}, which takes or returns secrets")
    if module == "set_fact":
        facts = task[next(key for key in task if key.endswith("set_fact"))] or {}
        found += [f"sets the fact {name}" for name, value in facts.items()
                  if SECRET_FACT.search(name) and not is_empty_literal(value)]
    if SECRET_VALUE.search(text):
        found.append(f"reads a secret's value ({SECRET_VALUE.search(text).group(0)})")
    if any(secret_content(value) for value in body.values()):
        found.append("queues or writes the content of a file marked secret: true")
    if module != "set_fact" and SECRET_QUEUE.search(text):
        found.append(f"passes {SECRET_QUEUE.search(text).group(0)} to {module}")
    return found


def secret_content(value) -> bool:
    """A file entry marked secret whose content passes through the controller
    (entries with ``src`` only are copied on the host and never printed)."""
    if isinstance(value, dict):
        if value.get("secret") is True and "content" in value:
            return True
        return any(secret_content(item) for item in value.values())
    if isinstance(value, list):
        return any(secret_content(item) for item in value)
    return False


def offenders() -> list[str]:
    secret_modules = modules_asking_for_no_log()
    out = []
    for path in task_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for task, no_log in walk(data if isinstance(data, list) else [], False):
            why = reasons(task, secret_modules)
            if why and not no_log:
                out.append(f"{path.relative_to(REPO)}: {task.get('name', '?')!r}: {'; '.join(why)}")
    return out


def test_the_modules_that_handle_secrets_are_known():
    # The list comes from the modules' own documentation: if it came out empty
    # the test below would check nothing.
    assert {"teletreball_secrets", "teletreball_oath_users", "teletreball_desktop_accounts",
            "teletreball_welcome_packs", "teletreball_vpn_clients"} <= modules_asking_for_no_log()


def test_every_task_that_handles_a_secret_is_no_log():
    assert offenders() == []


@pytest.mark.parametrize("task, expected", [
    ({"name": "x", "teletreball_secrets": {"secrets": []}}, "calls teletreball_secrets"),
    ({"name": "x", "ansible.builtin.set_fact": {"_pbx_queued_secret_files": "{{ a + b }}"}},
     "sets the fact _pbx_queued_secret_files"),
    ({"name": "x", "ansible.builtin.debug": {"msg": "{{ _pbx_secrets['pbx/ami-secret'] }}"}},
     "reads a secret's value"),
    ({"name": "x", "ansible.builtin.set_fact": {"_q": "{{ _q + _f }}"},
      "vars": {"_f": [{"dest": "/k", "content": "k", "secret": True}]}},
     "queues or writes the content of a file marked secret: true"),
    ({"name": "x", "teletreball_files": {"files": "{{ _vpn_queued_secret_files }}"}},
     "passes _vpn_queued_secret_files to teletreball_files"),
])
def test_the_rules_find_a_task_without_no_log(task, expected, tmp_path):
    found = reasons(task, modules_asking_for_no_log())
    assert any(expected in reason for reason in found), found


@pytest.mark.parametrize("task", [
    {"name": "x", "ansible.builtin.set_fact": {"_pbx_queued_secret_files": []}},
    {"name": "x", "ansible.builtin.assert": {"that": ["'a' in _pbx_secrets.keys()"]}},
    {"name": "x", "teletreball_admins": {"users": "{{ baseline_admin_users }}"}},
    {"name": "x", "ansible.builtin.set_fact": {"_q": "{{ _q + _f }}"},
     "vars": {"_f": [{"dest": "/k", "src": "/etc/pki/k.key", "secret": True}]}},
])
def test_the_rules_let_harmless_tasks_be(task):
    assert reasons(task, modules_asking_for_no_log()) == []


# Options that carry a secret's value. A module that takes one marks it
# no_log=True, so that Ansible hides it from the result and -vvv even on a task
# without no_log (teletreball_admins: the admins' password hashes).
SECRET_OPTION = re.compile(r'^\s*"((\w+_)?(password|password_hash|secret|passphrase))": (\{.*)$')


def secret_options() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted((REPO / "library").glob("teletreball_*.py")):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = SECRET_OPTION.match(line)
            if match:
                found.append((path.stem, match.group(1), match.group(4)))
    return found


def test_module_options_that_carry_secrets_are_no_log():
    options = secret_options()
    names = {(module, name) for module, name, _ in options}
    assert {("teletreball_admins", "password_hash"), ("teletreball_asterisk", "ami_secret"),
            ("teletreball_oath_users", "secret")} <= names
    assert [(module, name) for module, name, spec in options
            if '"no_log": True' not in spec] == []
