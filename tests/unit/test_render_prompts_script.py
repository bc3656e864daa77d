"""Unit tests of teletreball-render-prompts (roles/pbx/files/teletreball-render-prompts.py).

The role runs ``teletreball-render-prompts DIR [--check] MANIFEST_JSON``. espeak-ng and
sox are not needed: most tests put a fake ``speak`` in the module's place; the tests of
``speak`` itself put fake espeak-ng and sox programs first on PATH, which record their
arguments and write a file where the real ones write the sound.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys

import pytest
from role_scripts import load_role_script, load_script, script_path, usage_error

SCRIPT = script_path("pbx", "teletreball-render-prompts")

MANIFEST = [
    {"file": "welcome-ca", "voice": "ca", "text": "Benvinguts a l'Ajuntament."},
    {"file": "welcome-es", "voice": "es", "text": "Bienvenidos al Ayuntamiento."},
]

# A fake espeak-ng or sox: appends its name and arguments to $FAKE_LOG (one JSON list a
# line), exits with $FAKE_FAIL_<NAME> when set, else writes the output file.
FAKE_PROGRAM = """\
#!{python}
import json, os, sys
name = os.path.basename(sys.argv[0])
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps([name] + sys.argv[1:]) + "\\n")
fail = os.environ.get("FAKE_FAIL_" + name.replace("-", "_").upper())
if fail:
    print(name + ": failed", file=sys.stderr)
    sys.exit(int(fail))
if name == "espeak-ng":
    out = sys.argv[sys.argv.index("-w") + 1]
    data = ("SPOKEN " + (sys.stdin.read() if "--stdin" in sys.argv else sys.argv[-1])).encode()
else:
    out = sys.argv[-1]
    with open(sys.argv[1], "rb") as handle:
        data = b"8KHZ " + handle.read()
with open(out, "wb") as handle:
    handle.write(data)
"""


@pytest.fixture(scope="module")
def renderer():
    return load_role_script("pbx", "teletreball-render-prompts")


@pytest.fixture
def spoken(renderer, monkeypatch):
    """A fake speak(): writes the voice and text into the WAV file, records the calls."""
    calls = []

    def speak(voice, text, wav):
        calls.append((voice, text, wav))
        with open(wav, "w", encoding="utf-8") as handle:
            handle.write(f"{voice}:{text}")

    monkeypatch.setattr(renderer, "speak", speak)
    return calls


@pytest.fixture
def fake_programs(tmp_path, monkeypatch):
    """Fake espeak-ng and sox first on PATH; returns a function reading their calls."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("espeak-ng", "sox"):
        program = folder / name
        program.write_text(FAKE_PROGRAM.format(python=sys.executable), encoding="utf-8")
        program.chmod(0o755)
    log = tmp_path / "programs.log"
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(log))

    def calls():
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]

    return calls


def render(renderer, capsys, folder, manifest=MANIFEST, check=False):
    argv = [str(folder)] + (["--check"] if check else []) + [json.dumps(manifest)]
    rc = renderer.main(argv)
    return rc, capsys.readouterr().out


def test_the_first_run_renders_every_prompt_and_stamps_it(renderer, spoken, capsys, tmp_path):
    folder = tmp_path / "prompts"
    assert render(renderer, capsys, folder) == (0, "rendered: 2\n")
    assert folder.is_dir()
    for item in MANIFEST:
        wav = folder / f"{item['file']}.wav"
        stamp = folder / f"{item['file']}.txt"
        assert wav.read_text(encoding="utf-8") == f"{item['voice']}:{item['text']}"
        assert stamp.read_text(encoding="utf-8") == f"{item['voice']}\n{item['text']}\n"
        assert stat.S_IMODE(stamp.stat().st_mode) == 0o644
    assert [call[:2] for call in spoken] == [(i["voice"], i["text"]) for i in MANIFEST]
    assert sorted(p.name for p in folder.iterdir()) == [
        "welcome-ca.txt", "welcome-ca.wav", "welcome-es.txt", "welcome-es.wav"]


def test_a_second_run_renders_nothing(renderer, spoken, capsys, tmp_path):
    render(renderer, capsys, tmp_path)
    spoken.clear()
    assert render(renderer, capsys, tmp_path) == (0, "rendered: 0\n")
    assert spoken == []


@pytest.mark.parametrize("change", ["text", "voice"])
def test_only_a_changed_prompt_is_rendered_again(renderer, spoken, capsys, tmp_path, change):
    render(renderer, capsys, tmp_path)
    spoken.clear()
    manifest = [dict(MANIFEST[0], **{change: "ca-valencia" if change == "voice" else "Hola."}),
                MANIFEST[1]]
    assert render(renderer, capsys, tmp_path, manifest) == (0, "rendered: 1\n")
    assert [call[2] for call in spoken] == [str(tmp_path / "welcome-ca.wav")]
    stamp = (tmp_path / "welcome-ca.txt").read_text(encoding="utf-8")
    assert stamp == f"{manifest[0]['voice']}\n{manifest[0]['text']}\n"


def test_a_missing_sound_file_is_rendered_again(renderer, spoken, capsys, tmp_path):
    render(renderer, capsys, tmp_path)
    (tmp_path / "welcome-es.wav").unlink()
    spoken.clear()
    assert render(renderer, capsys, tmp_path) == (0, "rendered: 1\n")
    assert [call[2] for call in spoken] == [str(tmp_path / "welcome-es.wav")]


@pytest.mark.parametrize("position", ["middle", "first", "last"])
def test_check_mode_counts_and_writes_nothing(renderer, spoken, capsys, tmp_path, position):
    folder = tmp_path / "prompts"
    argv = {"middle": [str(folder), "--check", json.dumps(MANIFEST)],
            "first": ["--check", str(folder), json.dumps(MANIFEST)],
            "last": [str(folder), json.dumps(MANIFEST), "--check"]}[position]
    assert renderer.main(argv) == 0
    assert capsys.readouterr().out == "rendered: 2\n"
    assert not folder.exists()
    assert spoken == []


def test_check_mode_counts_only_the_changed_prompts(renderer, spoken, capsys, tmp_path):
    render(renderer, capsys, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    spoken.clear()
    manifest = [MANIFEST[0], dict(MANIFEST[1], text="Hola.")]
    assert render(renderer, capsys, tmp_path, manifest, check=True) == (0, "rendered: 1\n")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert spoken == []


def test_an_empty_manifest_renders_nothing(renderer, spoken, capsys, tmp_path):
    assert render(renderer, capsys, tmp_path / "p", []) == (0, "rendered: 0\n")
    assert spoken == []


@pytest.mark.parametrize(("argv", "message"), [
    ([], "the following arguments are required"),
    (["prompts"], "the following arguments are required: MANIFEST_JSON"),
    (["prompts", "[]", "extra"], "unrecognized arguments: extra"),
    (["prompts", "[{'file': 1}]"], "argument MANIFEST_JSON: not JSON: "),
])
def test_a_wrong_command_line_exits_2(renderer, capsys, argv, message):
    err = usage_error(renderer, argv, capsys)
    assert "usage: teletreball-render-prompts" in err and message in err


# --- speak(): espeak-ng, then sox ---------------------------------------------------------


def test_speak_runs_espeak_ng_then_sox_to_8_khz_mono(renderer, fake_programs, tmp_path):
    wav = tmp_path / "welcome-ca.wav"
    renderer.speak("ca", "Benvinguts.", str(wav))
    espeak, sox = fake_programs()
    spoken_file = espeak[espeak.index("-w") + 1]
    assert espeak == ["espeak-ng", "-v", "ca", "-s", "150", "-w", spoken_file, "--stdin"]
    assert sox[:2] == ["sox", spoken_file]
    assert sox[2:-1] == ["-r", "8000", "-c", "1", "-b", "16"]
    assert wav.read_bytes() == b"8KHZ SPOKEN Benvinguts."
    assert stat.S_IMODE(wav.stat().st_mode) == 0o644
    # The intermediate files were in a temporary folder, now gone.
    assert not os.path.exists(spoken_file) and not os.path.exists(sox[-1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "programs.log", "welcome-ca.wav"]


@pytest.mark.parametrize("text", ["-w /tmp/elsewhere.wav", "--version", "--stdin -q"])
def test_a_text_is_never_an_option(renderer, fake_programs, tmp_path, text):
    """Issue 18: a prompt's text is spoken, whatever it starts with."""
    wav = tmp_path / "t.wav"
    renderer.speak("ca", text, str(wav))
    espeak, _ = fake_programs()
    assert text not in espeak and espeak[-1] == "--stdin"
    assert wav.read_bytes() == b"8KHZ SPOKEN " + text.encode()


@pytest.mark.parametrize("program", ["espeak-ng", "sox"])
def test_a_failing_program_stops_the_run_and_leaves_no_stamp(
        renderer, fake_programs, capsys, tmp_path, monkeypatch, program):
    monkeypatch.setenv("FAKE_FAIL_" + program.replace("-", "_").upper(), "3")
    folder = tmp_path / "prompts"
    with pytest.raises(subprocess.CalledProcessError) as error:
        render(renderer, capsys, folder)
    assert error.value.returncode == 3 and error.value.cmd[0] == program
    # Nothing claims the prompt is done: the next run renders it again.
    assert list(folder.iterdir()) == []


def test_the_installed_file_without_extension_runs_as_a_program(fake_programs, tmp_path):
    installed = tmp_path / "teletreball-render-prompts"
    shutil.copy(SCRIPT, installed)
    assert callable(load_script(installed).speak)
    folder = tmp_path / "prompts"
    command = [sys.executable, str(installed), str(folder), json.dumps(MANIFEST)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout) == (0, "rendered: 2\n"), result.stderr
    assert (folder / "welcome-es.wav").read_bytes() == b"8KHZ SPOKEN Bienvenidos al Ayuntamiento."
    assert [call[0] for call in fake_programs()] == ["espeak-ng", "sox", "espeak-ng", "sox"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout) == (0, "rendered: 0\n")
    # A failing espeak-ng: a non-zero exit and its message on stderr.
    failing = dict(os.environ, FAKE_FAIL_ESPEAK_NG="1")
    command[-1] = json.dumps([dict(MANIFEST[0], text="Nou.")])
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=failing)
    assert result.returncode != 0
    assert "espeak-ng: failed" in result.stderr
