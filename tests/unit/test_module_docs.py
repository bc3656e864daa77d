"""Every module of library/ and every plugin of ours carries DOCUMENTATION,
EXAMPLES and RETURN that parse as YAML, as ansible-doc needs them (a ": " in a
plain line of prose breaks it), and ansible-doc renders the modules.

Every module declares its check and diff support the standard way (the
``attributes`` check_mode and diff_mode of ansible-core's own modules), and the
declaration agrees with the code:
- check_mode is ``none`` exactly when the module's AnsibleModule(...) call does
  not pass supports_check_mode=True (Ansible then skips the task in check mode);
- diff_mode is ``none`` exactly when the module never puts a ``diff`` key in what
  it returns; a module that does must read ``module._diff`` (return the diff
  only in diff mode);
- ``partial`` (either one) says in ``details`` what is left out."""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
MODULES = sorted((REPO / "library").glob("*.py"))
SUPPORT = {"full", "partial", "none"}
PLUGINS = sorted(path for folder in ("callback_plugins", "vars_plugins")
                 for path in (REPO / folder).glob("*.py"))


def documentation(path):
    """The module-level string constants DOCUMENTATION, EXAMPLES and RETURN."""
    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN")
                and isinstance(node.value, ast.Constant)):
            found[node.targets[0].id] = node.value.value
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.stem)
def test_a_module_documents_itself_in_valid_yaml(path):
    docs = documentation(path)
    assert set(docs) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}, path.name
    parsed = {name: yaml.safe_load(text) for name, text in docs.items()}
    assert parsed["DOCUMENTATION"]["module"] == path.stem
    assert parsed["DOCUMENTATION"]["short_description"]
    assert isinstance(parsed["EXAMPLES"], list) and parsed["EXAMPLES"]


def module_classes(tree):
    """AnsibleModule and the classes of the module that derive from it."""
    names, grew = {"AnsibleModule"}, True
    while grew:
        grew = False
        for node in ast.walk(tree):
            if (isinstance(node, ast.ClassDef) and node.name not in names
                    and any(getattr(base, "id", getattr(base, "attr", None)) in names
                            for base in node.bases)):
                names.add(node.name)
                grew = True
    return names


def supports_check_mode(tree):
    """Whether the module's AnsibleModule(...) call (or its subclass's) passes
    supports_check_mode=True."""
    names = module_classes(tree)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, "id", getattr(node.func, "attr", None)) in names]
    assert len(calls) == 1, f"expected one call of {sorted(names)}, found {len(calls)}"
    return any(keyword.arg == "supports_check_mode"
               and isinstance(keyword.value, ast.Constant) and keyword.value.value is True
               for keyword in calls[0].keywords)


def builds_diff(tree):
    """Whether the module puts a "diff" key in a result: result["diff"] = ...,
    {"diff": ...} or exit_json(diff=...)."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store)
                and isinstance(node.slice, ast.Constant) and node.slice.value == "diff"):
            return True
        if isinstance(node, ast.Dict) and any(
                isinstance(key, ast.Constant) and key.value == "diff" for key in node.keys):
            return True
        if isinstance(node, ast.Call) and any(k.arg == "diff" for k in node.keywords):
            return True
    return False


def reads_diff_mode(tree):
    return any(isinstance(node, ast.Attribute) and node.attr == "_diff"
               for node in ast.walk(tree))


def check_attribute(name, attribute):
    assert isinstance(attribute, dict), f"attributes.{name} is missing"
    assert attribute.get("support") in SUPPORT, (
        f"attributes.{name}.support must be one of {sorted(SUPPORT)}")
    if attribute["support"] == "partial":
        assert attribute.get("details"), f"attributes.{name} is partial: say what in details"
    return attribute["support"]


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.stem)
def test_a_module_declares_its_check_and_diff_support(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    doc = yaml.safe_load(documentation(path)["DOCUMENTATION"])
    attributes = doc.get("attributes")
    assert isinstance(attributes, dict), f"{path.name}: DOCUMENTATION has no attributes"
    # The attributes' meaning comes from ansible-core's own fragment, as in its
    # modules: a module states its support and details, never a copy of the text.
    assert "action_common_attributes" in doc.get("extends_documentation_fragment", []), (
        f"{path.name}: extends_documentation_fragment lacks action_common_attributes")
    for name, entry in attributes.items():
        assert "description" not in entry, (
            f"{path.name}: attributes.{name} repeats a description; write details")
    check = check_attribute("check_mode", attributes.get("check_mode"))
    diff = check_attribute("diff_mode", attributes.get("diff_mode"))
    if supports_check_mode(tree):
        assert check != "none", (
            f"{path.name} passes supports_check_mode=True: check_mode is full or partial")
    else:
        assert check == "none", (
            f"{path.name} does not pass supports_check_mode=True: Ansible skips it in "
            "check mode, so check_mode support is none")
    if builds_diff(tree):
        assert diff != "none", f"{path.name} returns a diff: diff_mode is full or partial"
        assert reads_diff_mode(tree), (
            f"{path.name} returns a diff but never reads module._diff")
    else:
        assert diff == "none", f"{path.name} returns no diff: diff_mode support is none"


def test_the_rules_of_declaration_read_the_code():
    """The code readers above on small sources: a wrong reading would let a false
    declaration pass."""
    assert supports_check_mode(ast.parse("m = AnsibleModule({}, supports_check_mode=True)"))
    assert not supports_check_mode(ast.parse("m = AnsibleModule({})"))
    assert not supports_check_mode(
        ast.parse("m = basic.AnsibleModule({}, supports_check_mode=False)"))
    assert supports_check_mode(ast.parse(
        "class Quiet(AnsibleModule):\n    pass\n"
        "m = Quiet(argument_spec={}, supports_check_mode=True)"))
    for source in ('result["diff"] = {}', 'exit_json(changed=True, diff=[])',
                   'result = {"changed": False, "diff": []}'):
        assert builds_diff(ast.parse(source)), source
    for source in ('x = result["diff"]', 'msg = "no diff here"', 'diffs = []'):
        assert not builds_diff(ast.parse(source)), source
    assert reads_diff_mode(ast.parse("if module._diff:\n    pass"))
    assert check_attribute("check_mode", {"description": "d", "support": "full"}) == "full"
    for bad in (None, {"description": "d", "support": "yes"}, {"description": "d"},
                {"description": "d", "support": "partial"}):
        with pytest.raises(AssertionError):
            check_attribute("check_mode", bad)


PROSE = ("short_description", "description", "notes", "requirements", "details")


def is_text(value):
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(item, str) for item in value))


def misread_prose(fields, where=""):
    """The texts of one documented thing (the module, an option, an attribute, a
    return value) that YAML did not read as text: a ": " in a plain line turns
    "A: b" into {"A": "b"}, valid YAML that ansible-doc cannot render. Options,
    suboptions, attributes and return values (``contains``) are searched too; their
    names are names, not fields (an option may be called description)."""
    found = [f"{where}{key}" for key in PROSE
             if key in fields and not is_text(fields[key])]
    for key in ("options", "suboptions", "attributes", "contains"):
        if isinstance(fields.get(key), dict):
            found += misread_names(fields[key], f"{where}{key}.")
    return found


def misread_names(entries, where=""):
    """misread_prose of each entry of a mapping of names (options, return values)."""
    found = []
    for name, entry in entries.items():
        if isinstance(entry, dict):
            found += misread_prose(entry, f"{where}{name}.")
        else:
            found.append(f"{where}{name}")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.stem)
def test_a_module_documentation_reads_its_prose_as_text(path):
    docs = documentation(path)
    for name in ("DOCUMENTATION", "RETURN"):
        parsed = yaml.safe_load(docs[name])
        if name == "RETURN" and parsed is None:
            continue
        found = misread_prose(parsed) if name == "DOCUMENTATION" else misread_names(parsed)
        assert found == [], (
            f"{path.name} {name}: not text (a ': ' in a plain line? quote it)")


def test_misread_prose_finds_a_colon_in_plain_text():
    assert misread_prose(yaml.safe_load("notes:\n  - It works: always.\n")) == ["notes"]
    assert misread_prose(yaml.safe_load(
        "options:\n  a:\n    description: x\n    suboptions:\n"
        "      b:\n        description:\n          - 'Say: yes'\n          - Then: go\n"
    )) == ["options.a.suboptions.b.description"]
    assert misread_prose(yaml.safe_load(
        "attributes:\n  check_mode:\n    support: partial\n    details:\n      - Only: this\n"
    )) == ["attributes.check_mode.details"]
    assert misread_names(yaml.safe_load(
        "out:\n  description: x\n  contains:\n    y:\n      description:\n        - A: b\n"
    )) == ["out.contains.y.description"]
    # An option or a return value may be called description.
    assert misread_prose(yaml.safe_load(
        "description:\n  - 'Say: yes'\nnotes: [a]\noptions:\n  description:\n"
        "    description: The text.\n    type: str\n")) == []


@pytest.mark.parametrize("path", PLUGINS, ids=lambda path: path.stem)
def test_a_plugin_documentation_is_valid_yaml(path):
    docs = documentation(path)
    if "DOCUMENTATION" in docs:
        parsed = yaml.safe_load(docs["DOCUMENTATION"])
        assert parsed["name"] == path.stem
        assert misread_prose(parsed) == []


def test_ansible_doc_renders_every_module():
    bindir = pathlib.Path(sys.executable).parent
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run(
        [str(bindir / "ansible-doc"), "-M", str(REPO / "library"),
         *[path.stem for path in MODULES]],
        capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=300)
    assert result.returncode == 0, result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert errors == []
    sections = {}
    for section in result.stdout.split("> MODULE ")[1:]:
        sections[section.split()[0]] = section
    assert sorted(sections) == [path.stem for path in MODULES]
    for path in MODULES:
        assert "\nATTRIBUTES" in sections[path.stem], path.stem
        attributes = sections[path.stem].split("\nATTRIBUTES", 1)[1]
        assert "check_mode:" in attributes and "diff_mode:" in attributes, path.stem
