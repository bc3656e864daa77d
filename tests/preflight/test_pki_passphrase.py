"""The pki preflight's checks of where the CA key's passphrase is kept
(roles/pki/tasks/preflight_passphrase.yml), run on the controller alone: neither
pki_ca_passphrase nor pki_ca_passphrase_file, a file inside the credentials folder, a
short passphrase and an older release's pki/ca.passphrase stop the run with a message
that never shows the passphrase; a file beside the folder or a long variable pass."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOK = """---
- name: The passphrase checks of the pki preflight
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Check where the passphrase of the CA key is kept
      ansible.builtin.import_role:
        name: pki
        tasks_from: preflight_passphrase.yml
"""
SECRET = "Correct-Horse-Battery-Staple-0123456789"  # noqa: S105 - a test value


def run(tmp_path, **variables):
    playbook = tmp_path / "passphrase.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="0")
    bindir = pathlib.Path(sys.executable).parent
    return subprocess.run(
        [str(bindir / "ansible-playbook"), "-i", "localhost,", str(playbook),
         "--extra-vars", json.dumps(variables)],
        capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=120)


@pytest.fixture(name="credentials")
def fixture_credentials(tmp_path):
    folder = tmp_path / "credentials" / "council"
    (folder / "pki").mkdir(parents=True)
    return folder


def test_a_file_beside_the_folder_passes(tmp_path, credentials):
    result = run(tmp_path, teletreball_credentials_dir=str(credentials),
                 pki_ca_passphrase_file=f"{credentials}.ca-passphrase")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_vaulted_variable_passes_and_is_never_shown(tmp_path, credentials):
    result = run(tmp_path, teletreball_credentials_dir=str(credentials),
                 pki_ca_passphrase=SECRET)
    assert result.returncode == 0, result.stdout + result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_neither_is_refused(tmp_path, credentials):
    result = run(tmp_path, teletreball_credentials_dir=str(credentials))
    assert result.returncode != 0
    assert "Neither pki_ca_passphrase nor pki_ca_passphrase_file is set" in result.stdout


def test_a_file_inside_the_credentials_folder_is_refused(tmp_path, credentials):
    result = run(tmp_path, teletreball_credentials_dir=f"{credentials}/",
                 pki_ca_passphrase_file=f"{credentials}/pki/../secret/ca-passphrase")
    assert result.returncode != 0
    assert "is inside the credentials" in result.stdout


def test_a_relative_file_or_a_short_passphrase_is_refused(tmp_path, credentials):
    result = run(tmp_path, teletreball_credentials_dir=str(credentials),
                 pki_ca_passphrase_file="ca-passphrase")  # noqa: S106 - a path
    assert result.returncode != 0 and "must be an absolute path" in result.stdout
    result = run(tmp_path, teletreball_credentials_dir=str(credentials),
                 pki_ca_passphrase="short-one")  # noqa: S106 - a test value
    assert result.returncode != 0 and "at least 32 characters" in result.stdout
    assert "short-one" not in result.stdout + result.stderr


def test_an_old_passphrase_beside_the_key_is_refused_with_the_steps(tmp_path, credentials):
    legacy = credentials / "pki" / "ca.passphrase"
    legacy.write_text(SECRET + "\n")
    result = run(tmp_path, teletreball_credentials_dir=str(credentials),
                 pki_ca_passphrase_file=f"{credentials}.ca-passphrase")
    assert result.returncode != 0
    assert "holds the passphrase of the CA key beside" in result.stdout
    assert "ansible-vault create" in result.stdout and "shred -u" in result.stdout
    assert SECRET not in result.stdout + result.stderr
