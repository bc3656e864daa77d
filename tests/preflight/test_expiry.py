"""The expiry watch of every run, on the controller alone, with real certificates (the
cryptography library) and a real signing key (gpg):

* the preflight warns, one line each, about the CA and the signing key that end within 45
  days, and stops site.yml before any host is contacted when the signing key (which no
  run renews) or a CA that the run does not sign again ends within 7 days;
* the host play (playbooks/expiry.yml, run here on the controller as a local host whose
  certificate folder is a temporary one) counts a certificate as renewed only when the
  run's tags select the pki play's certificates and it is inside pki_renew_days_before;
  a certificate issued elsewhere is never renewed; check mode changes nothing.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

REPO = pathlib.Path(__file__).resolve().parents[2]
LAB_STAFF = REPO / "inventories" / "lab" / "group_vars" / "all" / "staff.yml"
NOW = datetime.datetime.now(datetime.UTC)
# TEST-NET-1 (RFC 5737): never answers, so a contacted host would show up as UNREACHABLE.
NEVER = {"ansible_host": "192.0.2.1", "ansible_connection": "ssh",
         "ansible_ssh_common_args": "-o ConnectTimeout=2"}


def ansible_playbook(inventory, playbook, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="0")
    bindir = pathlib.Path(sys.executable).parent
    result = subprocess.run(
        [str(bindir / "ansible-playbook"), "-i", str(inventory),
         str(REPO / "playbooks" / playbook), *extra],
        capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=300)
    result.output = " ".join((result.stdout + result.stderr).split())
    return result


def name(common_name):
    return x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])


def make_ca(common_name, days):
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder().subject_name(name(common_name)).issuer_name(name(common_name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=10))
        .not_valid_after(NOW + datetime.timedelta(days=days, hours=12))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256()))
    return key, certificate


def make_leaf(ca, common_name, days):
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder().subject_name(name(common_name))
        .issuer_name(ca[1].subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=300))
        .not_valid_after(NOW + datetime.timedelta(days=days, hours=12))
        .sign(ca[0], hashes.SHA256()))
    return certificate


def pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM)


def signing_key(folder, days):
    """A real repository signing key that ends in ``days`` days, as package_repo keeps it."""
    home = folder.parent / "gnupg"
    home.mkdir(mode=0o700)
    try:
        subprocess.run(
            ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback",
             "--passphrase", "", "--quick-generate-key", "Council packages", "ed25519", "sign",
             f"{days}d"], check=True, capture_output=True)
        public = subprocess.run(["gpg", "--homedir", str(home), "--batch", "--armor",
                                 "--export"], check=True, capture_output=True).stdout
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False,
                       capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "signing-key.pub.asc").write_bytes(public)


def council(tmp_path, ca_days=3000, key_days=None):
    """An inventory whose only host nobody answers (a desktop, PBX and chat host, as in
    test_inventories.py), and its credentials folder with a CA and maybe a signing key."""
    credentials = tmp_path / "credentials"
    (credentials / "pki").mkdir(parents=True)
    ca = make_ca("teletreball internal CA", ca_days)
    (credentials / "pki" / "ca.crt").write_bytes(pem(ca[1]))
    if key_days is not None:
        signing_key(credentials / "package-repo", key_days)
    data = yaml.safe_load(LAB_STAFF.read_text(encoding="utf-8"))
    data["teletreball_credentials_dir"] = str(credentials)
    for person in data["teletreball_staff"]:
        person.pop("desktop_host", None)
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "group_vars" / "all" / "staff.yml").write_text(
        yaml.safe_dump(data, allow_unicode=True))
    hosts = {"all": {"hosts": {"never-contacted": NEVER}, "children": {
        group: {"hosts": {"never-contacted": {}}}
        for group in ("vdi_hosts", "pbx_servers", "conference_servers")}}}
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    return inventory / "hosts.yml", credentials, ca


def files_of(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def not_contacted(result):
    return "UNREACHABLE" not in result.output and "unreachable=1" not in result.output


needs_gpg = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")


@needs_gpg
def test_the_preflight_warns_about_the_ca_and_the_signing_key_in_45_days(tmp_path):
    inventory, credentials, _ca = council(tmp_path, ca_days=40, key_days=30)
    result = ansible_playbook(inventory, "preflight.yml", "--check")
    assert result.returncode == 0, result.output
    ca_end = (NOW + datetime.timedelta(days=40, hours=12)).date().isoformat()
    assert (f"[WARNING]: controller: {credentials}/pki/ca.crt (CN=teletreball internal CA, "
            f"a CA) expires on {ca_end} (40 days left) and this run does not renew it: run "
            "ansible-playbook playbooks/site.yml: its pki play signs the CA certificate again"
            ) in result.output
    assert re.search(
        rf"\[WARNING\]: controller: {re.escape(str(credentials))}/package-repo/signing-key"
        r"\.pub\.asc \(OpenPGP key [0-9A-F]{40}, Council packages\) expires on \S+ "
        r"\((29|30) days left\) and this run does not renew it: no run renews it: rotate the "
        r"repository's signing key", result.output), result.output


@needs_gpg
def test_a_signing_key_ending_within_7_days_stops_site_before_any_host(tmp_path):
    inventory, credentials, _ca = council(tmp_path, key_days=5)
    before = files_of(credentials)
    result = ansible_playbook(inventory, "site.yml", "--tags", "vpn")
    assert result.returncode != 0
    assert "end in less than 7 days and this run does not renew them" in result.output
    assert "signing-key.pub.asc (OpenPGP key" in result.output
    assert "Rotating the key" in result.output
    assert not_contacted(result), result.output
    # Stopped before the preflight wrote anything (no lock, no directory, no secret).
    assert files_of(credentials) == before
    # An urgent run may go on with pki_expiry_fail_days=0: then only a warning.
    result = ansible_playbook(inventory, "preflight.yml", "--check",
                              "-e", "pki_expiry_fail_days=0")
    assert result.returncode == 0, result.output
    assert "[WARNING]: controller:" in result.output and "signing-key.pub.asc" in result.output


def test_a_ca_ending_within_7_days_stops_a_run_that_does_not_sign_it_again(tmp_path):
    inventory, credentials, _ca = council(tmp_path, ca_days=5)
    # The preflight alone: no pki play follows.
    result = ansible_playbook(inventory, "preflight.yml", "--check")
    assert result.returncode != 0
    assert f"controller: {credentials}/pki/ca.crt (CN=teletreball internal CA, a CA)" \
        in result.output
    # site.yml without the CA's task file: the same.
    result = ansible_playbook(inventory, "site.yml", "--skip-tags", "pki-ca-01")
    assert result.returncode != 0 and "pki/ca.crt (CN=teletreball internal CA" in result.output
    assert not_contacted(result), result.output
    # site.yml, whatever its tags, signs it again (ca.yml is tagged always): no word of
    # it, and the run goes on to the hosts (here the one nobody answers).
    result = ansible_playbook(inventory, "site.yml", "--tags", "vpn")
    assert "pki/ca.crt" not in result.output, result.output
    assert "ok: [localhost]" in result.output and "never-contacted" in result.output


# --- the host play -------------------------------------------------------------------------


def local_host(tmp_path):
    """The controller as the host `watched`: the internal CA in the credentials folder; in
    its certificate folder, `conference` (internal, 5 days left), `month` (internal, 40
    days) and `public` (issued elsewhere, 5 days)."""
    credentials = tmp_path / "credentials"
    (credentials / "pki").mkdir(parents=True)
    ca = make_ca("teletreball internal CA", 3000)
    other = make_ca("Public ACME issuer", 3000)
    (credentials / "pki" / "ca.crt").write_bytes(pem(ca[1]))
    folder = tmp_path / "pki"
    folder.mkdir()
    (folder / "ca.crt").write_bytes(pem(ca[1]))
    (folder / "conference.crt").write_bytes(pem(make_leaf(ca, "chat.example.org", 5)))
    (folder / "conference.chain.crt").write_bytes(pem(ca[1]))
    (folder / "month.crt").write_bytes(pem(make_leaf(ca, "month.example.org", 40)))
    (folder / "public.crt").write_bytes(pem(make_leaf(other, "www.example.org", 5)))
    (folder / "public.chain.crt").write_bytes(pem(other[1]))
    variables = {
        "teletreball_credentials_dir": str(credentials),
        # An inventory that keeps the old renewal window (the default is 45 days, the
        # warning's): a certificate 31 to 45 days from its end is then warned about.
        "pki_renew_days_before": 30,
        "pki_certificates": [
            {"name": "conference", "common_name": "chat.example.org",
             "subject_alt_names": ["DNS:chat.example.org"]},
            {"name": "month", "common_name": "month.example.org",
             "subject_alt_names": ["DNS:month.example.org"]}],
    }
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"watched": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        **variables}}}}))
    return inventory, folder, ca


def watch(inventory, folder, *extra, site=True):
    moved = {"_pki_host_dir": str(folder)}  # the host's /etc/teletreball/pki, moved for the test
    if site:
        moved["_pki_expiry_site_run"] = True
    return ansible_playbook(inventory, "expiry.yml", "-e", json.dumps(moved), *extra)


def test_the_run_renews_only_what_its_pki_play_reissues(tmp_path):
    inventory, folder, ca = local_host(tmp_path)
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    # Whatever the tags, the certificate issued elsewhere stops the run, named.
    result = watch(inventory, folder)
    assert result.returncode != 0
    assert "1 certificate(s) or key(s) end in less than 7 days" in result.output
    assert (f"watched: {folder}/public.crt (CN=www.example.org, issued by CN=Public ACME "
            "issuer) expires on") in result.output
    assert "pki_external_certificates" in result.output
    (folder / "public.crt").unlink()
    (folder / "public.chain.crt").unlink()
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    # A full run (and --tags pki or pki_certificates) reissues conference (5 days);
    # month (40 days) is outside pki_renew_days_before (30): a warning of one line.
    for tags in ([], ["--tags", "pki"], ["--tags", "pki_certificates,vpn"], ["--check"]):
        result = watch(inventory, folder, *tags)
        assert result.returncode == 0, (tags, result.output)
        assert "conference.crt" not in result.output, (tags, result.output)
        month_end = (NOW + datetime.timedelta(days=40, hours=12)).date().isoformat()
        assert (f"[WARNING]: watched: {folder}/month.crt (CN=month.example.org, issued by "
                f"the internal CA) expires on {month_end} (40 days left) and this run does not "
                "renew it: this run reissues it only from") in result.output, tags
        assert "run ansible-playbook playbooks/site.yml --tags pki -e pki_renew_days_before=45 " \
               "to reissue it now" in result.output
    # A run whose tags leave the pki play out, or skip it, or that is not site.yml: stopped.
    for extra, site in ((["--tags", "vpn"], True), (["--skip-tags", "pki_certificates"], True),
                        ([], False)):
        result = watch(inventory, folder, *extra, site=site)
        assert result.returncode != 0, (extra, result.output)
        assert (f"watched: {folder}/conference.crt (CN=chat.example.org, issued by the "
                "internal CA) expires on") in result.output, extra
        assert "this run does not renew it: run ansible-playbook playbooks/site.yml --tags pki" \
            in result.output
    # A certificate the host no longer declares is named as such.
    result = watch(inventory, folder, "-e", json.dumps({"pki_certificates": []}))
    assert result.returncode != 0 and "not in the host's pki_certificates" in result.output
    # pki_expiry_warn_days=0 and pki_expiry_fail_days=0: silent.
    result = watch(inventory, folder, "--tags", "vpn", "-e", "pki_expiry_warn_days=0",
                   "-e", "pki_expiry_fail_days=0")
    assert result.returncode == 0 and "[WARNING]: watched" not in result.output, result.output
    # The central logs' certificate (issued through the role logs): renewed by a run whose
    # tags select the logs' certificates, not by --tags pki.
    (folder / "logs-upload.crt").write_bytes(pem(make_leaf(ca, "watched", 5)))
    result = watch(inventory, folder)
    assert result.returncode == 0 and "logs-upload" not in result.output, result.output
    # (These leave out the pki play: conference.crt alone stops them.)
    for tags in ("logs", "logs_certificates"):
        result = watch(inventory, folder, "--tags", tags)
        assert "1 certificate(s) or key(s) end in less than 7 days" in result.output, tags
        assert "conference.crt" in result.output and "logs-upload" not in result.output, tags
    result = watch(inventory, folder, "--tags", "pki")
    assert result.returncode != 0
    assert f"watched: {folder}/logs-upload.crt (CN=watched, issued by the internal CA)" \
        in result.output
    assert "run ansible-playbook playbooks/site.yml --tags logs_certificates" in result.output
    (folder / "logs-upload.crt").unlink()
    # Nothing was changed.
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
    assert "changed=0" in result.stdout


AUDIT_CONTROLLER = """---
- name: The controller's certificates and keys as playbooks/audit.yml lists them
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: List the CA and the signing key with their end
      ansible.builtin.include_role:
        name: pki
        tasks_from: audit_credentials.yml

    - name: Write what was listed for the test
      ansible.builtin.copy:
        content: "{{ _pki_audit_credentials | to_nice_json }}"
        dest: "{{ listed_file }}"
        mode: "0600"
"""


@needs_gpg
def test_the_audit_lists_the_ca_and_the_signing_key_of_the_controller(tmp_path):
    _inventory, credentials, ca = council(tmp_path, ca_days=400, key_days=100)
    (credentials / "pki" / "ca.key").write_bytes(ca[0].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"a passphrase of the test only")))
    os.chmod(credentials / "pki" / "ca.key", 0o600)
    (credentials / "pki" / "previous").mkdir()
    (credentials / "pki" / "previous" / "ca.crt").write_bytes(pem(make_ca("old CA", 20)[1]))
    playbook = tmp_path / "audit_controller.yml"
    playbook.write_text(AUDIT_CONTROLLER)
    listed_file = tmp_path / "listed.json"
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    bindir = pathlib.Path(sys.executable).parent
    result = subprocess.run(
        [str(bindir / "ansible-playbook"), "-i", "localhost,", str(playbook), "-e",
         json.dumps({"teletreball_credentials_dir": str(credentials),
                     "listed_file": str(listed_file)})],
        capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    listed = json.loads(listed_file.read_text())
    certificates = {item["path"]: item for item in listed["certificates"]}
    assert sorted(certificates) == [f"{credentials}/pki/ca.crt",
                                    f"{credentials}/pki/previous/ca.crt"]
    assert certificates[f"{credentials}/pki/ca.crt"]["days_left"] == 400
    assert certificates[f"{credentials}/pki/previous/ca.crt"]["subject"] == "CN=old CA"
    (signing,) = listed["openpgp_keys"]
    assert signing["days_left"] in (99, 100) and signing["uid"] == "Council packages"
    assert [(item["path"], item["kind"]) for item in listed["keys"]] == [
        (f"{credentials}/pki/ca.key", "private key")]
    # The audit lists: it neither warns nor fails (the previous CA ends in 20 days).
    assert "[WARNING]" not in result.stdout + result.stderr
    assert "PRIVATE KEY" not in listed_file.read_text()
