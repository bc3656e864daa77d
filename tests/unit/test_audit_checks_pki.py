"""The live checks of module_utils/teletreball_checks_pki.py (PKI-CA-01, PKI-CRT-01,
REPO-SIG-01, TT-SEC-01, TT-DIR-01, TT-EXT-01) against a fake host: a dict of commands and
their results and a dict of files. Certificates and keys are real, made with cryptography;
the OpenPGP fingerprints are compared with gpg's own when gpg is installed."""

from __future__ import annotations

import base64
import datetime
import json
import os
import shutil
import subprocess

import pytest
from audit_fakes import FakeProbe, audit
from audit_fakes import failed_if_any as failed
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from module_runner import register_module_utils

register_module_utils()

from ansible.module_utils import teletreball_checks_pki as checks  # noqa: E402
from ansible.module_utils import teletreball_directory as directory  # noqa: E402

NOW = datetime.datetime.now(datetime.UTC)
PKI = "/etc/teletreball/pki"
CA_DIR = "/srv/credentials/lab/pki"
CREDENTIALS = "/srv/credentials/lab"
PASSPHRASE = "p" * 48
PASSPHRASE_FILE = "/srv/credentials/lab.ca-passphrase"  # noqa: S105 - a path


def pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def public_pem(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def make_certificate(subject_key, subject, issuer_key, issuer, days=365, start_days=-1,
                     sans=(), ca=False):
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, issuer)]))
               .public_key(subject_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(NOW + datetime.timedelta(days=start_days))
               .not_valid_after(NOW + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None),
                              critical=True))
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in sans]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module", name="ca")
def fixture_ca():
    key = ec.generate_private_key(ec.SECP384R1())
    return key, make_certificate(key, "teletreball internal CA", key,
                                 "teletreball internal CA", days=3650, ca=True)


# --- PKI-CA-01 -----------------------------------------------------------------------

def ca_host(ca, key_text=None, passphrase=PASSPHRASE, names=checks.CA_FILES):
    key, certificate = ca
    if key_text is None:
        key_text = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase.encode())).decode()
    probe = FakeProbe(
        commands={
            ("find", CA_DIR, "-mindepth", "1", "-maxdepth", "1", "-printf", "%f\n"):
                "".join(f"{name}\n" for name in names),
            ("git", "-C", CA_DIR, "rev-parse", "--show-toplevel"):
                audit.Result(128, "", "fatal: not a git repository (or any of the parent "
                                      "directories): .git\n"),
        },
        files={f"{CA_DIR}/ca.key": key_text, PASSPHRASE_FILE: passphrase + "\n",
               f"{CA_DIR}/ca.crt": pem(certificate)})
    probe.stat(CA_DIR, "0700", kind="directory")
    for name in checks.CA_FILES:
        probe.stat(f"{CA_DIR}/{name}", "0600")
    probe.stat(PASSPHRASE_FILE, "0600")
    return probe


CA_PARAMS = {"pki_ca_dir": CA_DIR, "pki_ca_key": {"type": "ECC", "curve": "secp384r1"},
             "credentials_folder": CREDENTIALS, "pki_ca_passphrase_file": PASSPHRASE_FILE}


def test_ca_passes_when_private_encrypted_and_outside_git(ca):
    outcome = audit.evaluate("PKI-CA-01", ca_host(ca), CA_PARAMS)
    assert outcome["status"] == audit.PASS, audit.explain(outcome)
    # The key and the passphrase are read, never quoted.
    shown = json.dumps(outcome)
    assert PASSPHRASE not in shown and "ENCRYPTED PRIVATE KEY-----\n" not in shown


def test_ca_passes_with_the_folders_of_a_rotation_and_the_trusted_bundle(ca):
    """playbooks/rotate_ca.yml: next/ (step prepare) or previous/ (step switch) beside
    the active CA, and council-ca.crt (what people trust), are the CA's own."""
    for other in ("next", "previous"):
        probe = ca_host(ca, names=(*checks.CA_FILES, "council-ca.crt", other))
        outcome = audit.evaluate("PKI-CA-01", probe, CA_PARAMS)
        assert outcome["status"] == audit.PASS, audit.explain(outcome)


def test_ca_fails_on_a_readable_passphrase_and_a_host_key(ca):
    probe = ca_host(ca, names=(*checks.CA_FILES, "rdp.key"))
    probe.stat(PASSPHRASE_FILE, "0644")
    assert failed(audit.evaluate("PKI-CA-01", probe, CA_PARAMS)) == [
        "the CA's folder holds only the CA (host keys never reach the controller)",
        "the passphrase file is a regular file of mode 0600"]


def test_ca_fails_on_a_passphrase_beside_the_key(ca):
    probe = ca_host(ca, names=(*checks.CA_FILES, "ca.passphrase"))
    probe.files[f"{CA_DIR}/ca.passphrase"] = PASSPHRASE + "\n"
    probe.stat(f"{CA_DIR}/ca.passphrase", "0600")
    outcome = audit.evaluate("PKI-CA-01", probe, CA_PARAMS)
    assert failed(outcome) == [
        "the CA's folder holds only the CA (host keys never reach the controller)",
        "the CA key's passphrase is not kept in the credentials folder"]
    assert PASSPHRASE not in json.dumps(outcome)


def test_ca_fails_on_a_passphrase_file_inside_the_credentials_folder(ca):
    inside = f"{CREDENTIALS}/people/ca-passphrase"
    probe = ca_host(ca)
    probe.files[inside] = probe.files.pop(PASSPHRASE_FILE)
    probe.stat(inside, "0600")
    outcome = audit.evaluate("PKI-CA-01", probe, dict(CA_PARAMS, pki_ca_passphrase_file=inside))
    assert failed(outcome) == ["the CA key's passphrase is not kept in the credentials folder"]


def test_ca_passes_with_a_vaulted_passphrase_it_never_sees(ca):
    probe = ca_host(ca)
    del probe.files[PASSPHRASE_FILE]
    params = dict(CA_PARAMS, pki_ca_passphrase_file="", pki_ca_passphrase_variable=True)
    outcome = audit.evaluate("PKI-CA-01", probe, params)
    assert outcome["status"] == audit.PASS, audit.explain(outcome)


def test_ca_fails_without_any_passphrase(ca):
    params = dict(CA_PARAMS, pki_ca_passphrase_file="")
    assert failed(audit.evaluate("PKI-CA-01", ca_host(ca), params)) == [
        "the CA key's passphrase is not kept in the credentials folder",
        "the passphrase file holds a generated passphrase (at least 32 characters)"]


def test_ca_fails_on_an_unencrypted_key(ca):
    clear = ca[0].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    outcome = audit.evaluate("PKI-CA-01", ca_host(ca, key_text=clear), CA_PARAMS)
    assert failed(outcome) == ["ca.key is an encrypted PKCS#8 key"]
    assert "PRIVATE KEY-----" not in json.dumps(outcome)


def test_ca_fails_on_a_key_another_passphrase_opens(ca):
    probe = ca_host(ca)
    probe.files[PASSPHRASE_FILE] = "q" * 48
    assert failed(audit.evaluate("PKI-CA-01", probe, CA_PARAMS)) == [
        "ca.key opens with the stored passphrase"]


def test_ca_fails_when_git_tracks_or_does_not_ignore_it(ca):
    probe = ca_host(ca)
    probe.commands.update({
        ("git", "-C", CA_DIR, "rev-parse", "--show-toplevel"): "/srv\n",
        ("git", "-C", "/srv", "ls-files", "--", CA_DIR): "credentials/lab/pki/ca.key\n",
        ("git", "-C", "/srv", "check-ignore", "--verbose", "--non-matching", "--",
         *(f"{CA_DIR}/{name}" for name in sorted(checks.CA_FILES))): audit.Result(
            0, "".join(f".gitignore:3:credentials/\t{CA_DIR}/{name}\n"
                       for name in sorted(checks.CA_FILES) if name != "ca.key")
            + f"::\t{CA_DIR}/ca.key\n", ""),
    })
    outcome = audit.evaluate("PKI-CA-01", probe, CA_PARAMS)
    assert failed(outcome) == [f"git tracks no file of {CA_DIR}",
                               f"git ignores every file of {CA_DIR}"]
    assert f"not ignored by git: {CA_DIR}/ca.key" in json.dumps(outcome)


# --- PKI-CRT-01 ----------------------------------------------------------------------

@pytest.fixture(scope="module", name="host_key")
def fixture_host_key():
    return ec.generate_private_key(ec.SECP256R1())


def crt_host(ca, host_key, certificate=None, key_public=None):
    ca_key, ca_certificate = ca
    if certificate is None:
        certificate = make_certificate(host_key, "tt-pbx", ca_key, "teletreball internal CA",
                                       sans=["tt-pbx"])
    ca_text = pem(ca_certificate)
    probe = FakeProbe(
        commands={
            ("openssl", "x509", "-noout", "-subject", "-issuer", "-serial", "-enddate", "-in",
             f"{PKI}/sip.crt"): "subject=CN=tt-pbx\n",
            ("openssl", "pkey", "-pubout", "-in", f"{PKI}/sip.key"):
                key_public or public_pem(host_key),
        },
        files={f"{PKI}/ca.crt": ca_text, checks.TRUST_FILE: ca_text,
               checks.SYSTEM_BUNDLE: "# other CAs\n" + pem(certificate) + ca_text,
               f"{PKI}/sip.crt": pem(certificate), f"{PKI}/sip.chain.crt": ca_text,
               f"{PKI}/sip.fullchain.crt": pem(certificate) + ca_text})
    probe.stat(f"{PKI}/sip.key", "0600")
    return probe


def crt_params(ca):
    return {"pki_ca_certificate": pem(ca[1]), "pki_renew_days_before": 30,
            "pki_certificates": [{"name": "sip", "common_name": "tt-pbx",
                                  "subject_alt_names": ["DNS:tt-pbx"], "owner": "root",
                                  "group": "root", "key_mode": "0600"}]}


def test_certificates_pass_and_are_listed_with_subject_and_end(ca, host_key):
    outcome = audit.evaluate("PKI-CRT-01", crt_host(ca, host_key), crt_params(ca))
    assert outcome["status"] == audit.PASS, audit.explain(outcome)
    valid = next(f for f in outcome["findings"] if f["requirement"].endswith("valid now")
                 and f["requirement"].startswith("sip"))
    assert valid["evidence"].startswith("sip: subject CN=tt-pbx, notAfter ")
    assert any(item["source"].startswith("$ openssl x509 -noout -subject")
               for item in outcome["evidence"])


def test_a_host_without_certificates_still_trusts_the_ca(ca, host_key):
    params = dict(crt_params(ca), pki_certificates=[])
    probe = crt_host(ca, host_key)
    assert audit.evaluate("PKI-CRT-01", probe, params)["status"] == audit.PASS
    del probe.files[checks.TRUST_FILE]
    assert failed(audit.evaluate("PKI-CRT-01", probe, params)) == [
        "the council's CA is in the trust store's folder"]


def test_a_self_signed_certificate_fails(ca, host_key):
    rogue = make_certificate(host_key, "tt-pbx", host_key, "tt-pbx", sans=["tt-pbx"])
    assert failed(audit.evaluate("PKI-CRT-01", crt_host(ca, host_key, rogue),
                                 crt_params(ca))) == ["sip: signed by the council's CA"]


def test_a_certificate_inside_the_renewal_window_or_expired_fails(ca, host_key):
    soon = make_certificate(host_key, "tt-pbx", ca[0], "teletreball internal CA", days=10,
                            sans=["tt-pbx"])
    outcome = audit.evaluate("PKI-CRT-01", crt_host(ca, host_key, soon), crt_params(ca))
    assert failed(outcome) == ["sip: not inside the renewal window (30 days)"]
    assert "renewal due" in audit.explain(outcome)
    gone = make_certificate(host_key, "tt-pbx", ca[0], "teletreball internal CA", days=-1,
                            start_days=-30, sans=["tt-pbx"])
    assert failed(audit.evaluate("PKI-CRT-01", crt_host(ca, host_key, gone), crt_params(ca))) \
        == ["sip: the certificate is valid now", "sip: not inside the renewal window (30 days)"]


def test_a_certificate_of_another_key_fails(ca, host_key):
    other = public_pem(ec.generate_private_key(ec.SECP256R1()))
    outcome = audit.evaluate("PKI-CRT-01", crt_host(ca, host_key, key_public=other),
                             crt_params(ca))
    assert failed(outcome) == ["sip: the certificate matches its key"]
    # The public key of the host key was not shown either: evidence=False.
    assert "PUBLIC KEY" not in json.dumps(outcome)


def test_another_ca_installed_on_the_host_fails(ca, host_key):
    probe = crt_host(ca, host_key)
    other = ec.generate_private_key(ec.SECP384R1())
    probe.files[f"{PKI}/ca.crt"] = pem(make_certificate(other, "x", other, "x", ca=True))
    assert failed(audit.evaluate("PKI-CRT-01", probe, crt_params(ca))) == [
        f"{PKI}/ca.crt is the council's CA"]


def test_pem_blocks_ignore_line_breaks():
    assert checks.pem_blocks("-----BEGIN CERTIFICATE-----\nAB\nCD\n-----END CERTIFICATE-----\n"
                             "-----BEGIN CERTIFICATE-----\r\nABCD-----END CERTIFICATE-----") \
        == ["ABCD", "ABCD"]


# --- REPO-SIG-01 ---------------------------------------------------------------------

def ed25519_key_packet(public, created=1700000000):
    """A version 4 EdDSA public-key packet (tag 6, new format) of a 32-byte key."""
    oid = bytes.fromhex("2b06010401da470f01")
    point = b"\x40" + public
    body = (b"\x04" + created.to_bytes(4, "big") + bytes([22, len(oid)]) + oid
            + (len(point) * 8 - 1).to_bytes(2, "big") + point)
    return body, bytes([0xC0 | 6, len(body)]) + body


def armor(data):
    text = base64.b64encode(data).decode()
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return ("-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n" + "\n".join(lines)
            + "\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n")


def test_openpgp_fingerprints_of_armored_and_binary_keyrings():
    import hashlib

    body, packet = ed25519_key_packet(bytes(range(32)))
    wanted = hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper()  # noqa: S324
    # A user ID packet (tag 13, old format) between keys is skipped.
    user_id = bytes([0x80 | (13 << 2), 4]) + b"test"
    other_body, other = ed25519_key_packet(bytes(32))
    assert checks.openpgp_fingerprints(packet + user_id + other)[0] == wanted
    assert len(checks.openpgp_fingerprints(armor(packet + user_id + other).encode())) == 2
    assert checks.openpgp_fingerprints(b"not a key") == []


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")
def test_openpgp_fingerprint_is_gpgs(tmp_path):
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = dict(os.environ, GNUPGHOME=str(home))
    gpg = ["gpg", "--batch", "--quiet"]
    subprocess.run([*gpg, "--passphrase", "", "--quick-generate-key", "Test <t@example.org>",
                    "ed25519", "sign", "1y"], env=env, check=True, capture_output=True)
    listed = subprocess.run([*gpg, "--with-colons", "--list-keys"], env=env, check=True,
                            capture_output=True, text=True).stdout
    wanted = next(line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr:"))
    for options in ([], ["--armor"]):
        exported = subprocess.run([*gpg, *options, "--export", wanted], env=env, check=True,
                                  capture_output=True).stdout
        assert checks.openpgp_fingerprints(exported) == [wanted]
    subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False, capture_output=True)


@pytest.fixture(scope="module", name="signing_key")
def fixture_signing_key():
    _, packet = ed25519_key_packet(bytes(range(1, 33)))
    return checks.openpgp_fingerprints(packet)[0], packet


SOURCE = ("#\n# Ansible managed\n#\nTypes: deb\nURIs: http://tt-repo/\nSuites: teletreball-trixie\n"
          "Components: main\nSigned-By: /etc/apt/keyrings/teletreball.asc\n")
PREFERENCES = ("Package: src:asterisk\nPin: release o=teletreball\nPin-Priority: 500\n\n"
               "Package: *\nPin: release o=teletreball\nPin-Priority: -1\n")
POLICY = ("Package files:\n 100 /var/lib/dpkg/status\n     release a=now\n"
          "  -1 http://tt-repo teletreball-trixie/main amd64 Packages\n"
          "     release o=teletreball,a=teletreball-trixie,n=teletreball-trixie,c=main,b=amd64\n"
          "     origin tt-repo\n 500 http://deb.debian.org/debian trixie/main amd64 Packages\n"
          "     release v=13.8,o=Debian,a=stable,n=trixie,l=Debian,c=main,b=amd64\n")
CLIENT_PARAMS = {"repo_client": True, "repo_url": "http://tt-repo/",
                 "repo_suite": "teletreball-trixie", "repo_origin": "teletreball",
                 "repo_client_sources": ["asterisk"]}


def client_host(packet, source=SOURCE, preferences=PREFERENCES, policy=POLICY, global_key=None):
    b64 = base64.b64encode
    debian = b64(ed25519_key_packet(bytes(32))[1]).decode()
    return FakeProbe(
        commands={
            ("base64", "--wrap=0", "--", checks.KEYRING): b64(armor(packet).encode()).decode(),
            ("find", "/etc/apt/trusted.gpg", "/etc/apt/trusted.gpg.d", "-maxdepth", "1",
             "-type", "f"): audit.Result(1, "/etc/apt/trusted.gpg.d/debian.asc\n",
                                         "find: '/etc/apt/trusted.gpg': No such file"),
            ("base64", "--wrap=0", "--", "/etc/apt/trusted.gpg.d/debian.asc"):
                b64(global_key).decode() if global_key else debian,
            ("grep", "--recursive", "--files-with-matches", "--fixed-strings", "--",
             "http://tt-repo", "/etc/apt/sources.list", "/etc/apt/sources.list.d"):
                audit.Result(2, checks.SOURCE_FILE + "\n", "grep: /etc/apt/sources.list: none"),
            ("apt-cache", *checks.APT_NO_CACHE, "policy"): policy,
        },
        files={checks.SOURCE_FILE: source, checks.PREFERENCES_FILE: preferences})


def test_repository_client_passes(signing_key):
    fpr, packet = signing_key
    outcome = audit.evaluate("REPO-SIG-01", client_host(packet),
                             dict(CLIENT_PARAMS, repo_fingerprint=fpr))
    assert outcome["status"] == audit.PASS, audit.explain(outcome)


def test_repository_client_fails_without_signed_by_or_with_the_key_trusted_everywhere(
        signing_key):
    fpr, packet = signing_key
    probe = client_host(packet, source=SOURCE.replace(
        "Signed-By: /etc/apt/keyrings/teletreball.asc\n", ""), global_key=packet)
    assert failed(audit.evaluate("REPO-SIG-01", probe,
                                 dict(CLIENT_PARAMS, repo_fingerprint=fpr))) == [
        "the source trusts only /etc/apt/keyrings/teletreball.asc (Signed-By)",
        "the key is not trusted for every source (trusted.gpg.d)"]


def test_repository_client_fails_on_another_key_or_no_pin(signing_key):
    _, packet = signing_key
    probe = client_host(packet, preferences=PREFERENCES.replace("-1", "100"),
                        policy=POLICY.replace("  -1 http://tt-repo", " 100 http://tt-repo"))
    assert failed(audit.evaluate("REPO-SIG-01", probe,
                                 dict(CLIENT_PARAMS, repo_fingerprint="AB" * 20))) == [
        "the pinned key is the council's signing key",
        "apt takes nothing else from Origin teletreball (Pin-Priority below 0)",
        "apt has the repository's lists, pinned away (priority below 0) but for the listed "
        "packages"]


RELEASE = "Origin: teletreball\nLabel: x\nCodename: teletreball-trixie\nSuite: teletreball-trixie\n"
DISTS = "/srv/teletreball-repo/dists/teletreball-trixie"


def server_host(packet, fpr, release=RELEASE, signed=True):
    inline = ("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" + RELEASE
              + "-----BEGIN PGP SIGNATURE-----\n\nxyz\n-----END PGP SIGNATURE-----\n")
    sqv = ("sqv", "--keyring", "/srv/teletreball-repo/teletreball.asc", "--signature-file",
           f"{DISTS}/Release.gpg", f"{DISTS}/Release")
    return FakeProbe(
        commands={
            ("base64", "--wrap=0", "--", "/srv/teletreball-repo/teletreball.asc"):
                base64.b64encode(armor(packet).encode()).decode(),
            sqv: audit.Result(0, fpr + "\n", "") if signed
            else audit.Result(1, "", "Verifying signature:\n  Message has been manipulated"),
            ("sqv", "--keyring", checks.DEBIAN_KEYRING, *sqv[3:]): audit.Result(1, "", "no"),
        },
        files={f"{DISTS}/Release": release, f"{DISTS}/InRelease": inline})


def test_repository_server_passes(signing_key):
    fpr, packet = signing_key
    outcome = audit.evaluate("REPO-SIG-01", server_host(packet, fpr),
                             {"repo_server": True, "repo_fingerprint": fpr.lower()})
    assert outcome["status"] == audit.PASS, audit.explain(outcome)


def test_repository_server_fails_on_a_changed_release(signing_key):
    fpr, packet = signing_key
    probe = server_host(packet, fpr, release=RELEASE + "Tampered: yes\n", signed=False)
    assert failed(audit.evaluate("REPO-SIG-01", probe,
                                 {"repo_server": True, "repo_fingerprint": fpr})) == [
        "Release is signed by the council's key (sqv)", "InRelease carries the signed Release"]


def test_cleartext_body_removes_dash_escaping():
    text = ("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nA\n- -B\n"
            "-----BEGIN PGP SIGNATURE-----\n")
    assert checks.cleartext_body(text) == "A\n-B"
    assert checks.cleartext_body("Origin: x\n") is None


# --- TT-SEC-01 -----------------------------------------------------------------------

def credentials_host(listing, tracked="", ignored=None):
    files = [line.split(" ", 3)[3] for line in listing.splitlines() if line.split()[1] != "d"]
    ignored = files if ignored is None else ignored
    probe = FakeProbe(commands={
        ("find", CREDENTIALS, "-mindepth", "1", "-printf", "%m %y %u %p\n"): listing,
        ("git", "-C", CREDENTIALS, "rev-parse", "--show-toplevel"): "/srv\n",
        ("git", "-C", "/srv", "ls-files", "--", CREDENTIALS): tracked,
        ("git", "-C", "/srv", "check-ignore", "--verbose", "--non-matching", "--", *files):
            "".join(f".gitignore:9:credentials/\t{path}\n" if path in ignored
                    else f"::\t{path}\n" for path in files),
    })
    probe.stat(CREDENTIALS, "0700", kind="directory")
    return probe


LISTING = (f"700 d root {CREDENTIALS}/people\n600 f root {CREDENTIALS}/people/anna.password\n"
           f"600 f root {CREDENTIALS}/vpn-addresses.json\n")


def test_credentials_pass_when_private_and_ignored():
    outcome = audit.evaluate("TT-SEC-01", credentials_host(LISTING),
                             {"credentials_folder": CREDENTIALS})
    assert outcome["status"] == audit.PASS, audit.explain(outcome)


def test_credentials_fail_on_a_readable_file_or_one_git_would_take():
    listing = LISTING.replace("600 f root /srv/credentials/lab/people/anna.password",
                              "644 f root /srv/credentials/lab/people/anna.password")
    probe = credentials_host(listing, ignored=[f"{CREDENTIALS}/vpn-addresses.json"])
    outcome = audit.evaluate("TT-SEC-01", probe, {"credentials_folder": CREDENTIALS})
    assert failed(outcome) == [
        "every folder in it is 0700 and every file 0600 (no secret readable by others)",
        f"git ignores every file of {CREDENTIALS}"]
    assert "people/anna.password (file 644)" in audit.explain(outcome)


def test_credentials_without_the_parameter_are_an_error():
    assert audit.evaluate("TT-SEC-01", FakeProbe(), {})["status"] == audit.ERROR


# --- TT-DIR-01 and TT-EXT-01 --------------------------------------------------------

STAFF = [
    {"username": "anna", "name": "Anna Puig", "email": "anna@ajuntament.example",
     "department": "OAC", "groups": ["oac_agents"], "extension": 2001, "vpn_devices": []},
    {"username": "jordi", "name": "Jordi Vila", "email": "jordi@ajuntament.example",
     "department": "IT", "groups": ["it_admins"], "extension": 2002, "vpn_devices": []},
]
DIRECTORY = {
    "directory_networks": {"servers": "10.30.0.0/24", "vpn_pool": "10.99.0.0/24"},
    "directory_groups": {"oac_agents": "OAC", "it_admins": "IT"},
    "directory_access": {"phone": ["oac_agents", "it_admins"]},
    "directory_services": {"phone": {"networks": ["servers"], "tcp": [5061]}},
    "directory_extension_range": {"first": 2000, "last": 2999},
    "directory_vpn_pool": "vpn_pool",
}


def test_directory_passes_when_read_as_data():
    params = dict(DIRECTORY, directory_staff=STAFF,
                  directory_inert="/inventory/group_vars/all/staff.yml")
    outcome = audit.evaluate("TT-DIR-01", FakeProbe(), params)
    assert outcome["status"] == audit.PASS, audit.explain(outcome)


def test_directory_fails_from_elsewhere_or_with_control_characters():
    staff = [dict(STAFF[0], name="Anna \u202epuig"), dict(STAFF[1], department="IT\nx")]
    outcome = audit.evaluate("TT-DIR-01", FakeProbe(), dict(DIRECTORY, directory_staff=staff))
    assert failed(outcome) == [
        "teletreball_staff comes from group_vars, read as data by the vars plugin",
        "no name or department holds a control or invisible character",
        "the directory passes the preflight's validation"]
    assert "U+202E" in audit.explain(outcome) and "U+000A" in audit.explain(outcome)


def test_a_directory_from_elsewhere_is_not_read():
    params = dict(DIRECTORY, directory_staff=[], directory_elsewhere=True)
    assert failed(audit.evaluate("TT-DIR-01", FakeProbe(), params)) == [
        "teletreball_staff comes from group_vars, read as data by the vars plugin"]
    outcome = audit.evaluate("TT-EXT-01", FakeProbe(), {"credentials_folder": CREDENTIALS,
                                                        "directory_elsewhere": True})
    assert outcome["status"] == audit.ERROR and "TT-DIR-01" in outcome["error"]


def state_with(held, released=None):
    return json.dumps({"version": 2, "pool": "10.99.0.0/24", "allocations": {}, "released": {},
                       "people": {}, "extensions": {"held": held, "released": released or {}}})


def holder(person):
    return {"username": person["username"], "identity": directory.identity(person),
            "since": "2026-11-01T00:00:00Z"}


def test_extensions_pass_when_recorded_for_their_holders():
    probe = FakeProbe(files={f"{CREDENTIALS}/vpn-addresses.json": state_with(
        {"2001": holder(STAFF[0]), "2002": holder(STAFF[1])})})
    outcome = audit.evaluate("TT-EXT-01", probe, {"credentials_folder": CREDENTIALS,
                                                  "directory_staff": STAFF})
    assert outcome["status"] == audit.PASS, audit.explain(outcome)


def test_an_extension_in_quarantine_given_to_another_person_fails():
    released = {"2002": {"username": "marta", "identity": "0" * 32,
                         "released_at": (NOW - datetime.timedelta(days=3)).strftime(
                             "%Y-%m-%dT%H:%M:%SZ")}}
    probe = FakeProbe(files={f"{CREDENTIALS}/vpn-addresses.json": state_with(
        {"2001": holder(STAFF[0])}, released)})
    outcome = audit.evaluate("TT-EXT-01", probe, {"credentials_folder": CREDENTIALS,
                                                  "directory_staff": STAFF})
    assert failed(outcome) == ["every extension of the directory is recorded with its holder",
                               "no extension in quarantine is given to another person"]
    assert "extension 2002 is in quarantine until" in audit.explain(outcome)


def test_extensions_fail_without_a_version_2_record():
    probe = FakeProbe(files={f"{CREDENTIALS}/vpn-addresses.json": json.dumps({"version": 1})})
    assert failed(audit.evaluate("TT-EXT-01", probe, {"credentials_folder": CREDENTIALS})) == [
        f"{CREDENTIALS}/vpn-addresses.json records the holders of the extensions (version 2)"]
