"""Unit tests of the module teletreball_pki_host: keys, certificates and chains of a
host checked in one run, requests only for the certificates to sign.

The certificates are signed by the real community.crypto.x509_certificate_pipe
(provider ownca, run in-process), as the role's signing task does, so the tests
prove that what that module issues is kept, and that the module asks for a new
signature exactly when the signing module itself would reissue. Everything happens
under pytest's temporary folder, owned by the user running the tests.
"""

from __future__ import annotations

import datetime
import grp
import importlib
import json
import os
import pwd
import stat

import pytest
from ansible.module_utils.basic import AnsibleModule
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from module_runner import load_library_module, run_main

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
PIPE = "ansible_collections.community.crypto.plugins.modules.x509_certificate_pipe"


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_ca(common_name="teletreball internal CA"):
    """A CA like the role's (self-signed, CA:TRUE pathlen 0, keyCertSign and cRLSign,
    subject key identifier); ECC to keep the tests fast."""
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(minutes=10))
        .not_valid_after(NOW + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return {
        "key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode(),
        "cert": certificate.public_bytes(serialization.Encoding.PEM).decode(),
    }


@pytest.fixture(scope="module")
def ca():
    return make_ca()


@pytest.fixture(scope="module")
def rogue_ca():
    """Another CA with the same name: certificates it signs do not verify."""
    return make_ca()


@pytest.fixture
def pki(tmp_path):
    return tmp_path / "pki"


def entry(name="intranet", **changes):
    item = {
        "name": name,
        "common_name": f"{name}.teletreball.test",
        "subject_alt_names": [f"DNS:{name}.teletreball.test", "IP:127.0.0.1"],
        "key_usage": ["digitalSignature"],
        "extended_key_usage": ["serverAuth"],
        "key": {"type": "ECC", "curve": "secp256r1"},
        "key_mode": "0640",
        "owner": OWNER,
        "group": GROUP,
    }
    item.update(changes)
    return item


def args(pki, ca, certificates, **changes):
    result = {
        "directory": str(pki),
        "directory_owner": OWNER,
        "directory_group": GROUP,
        "ca_certificate": ca["cert"].strip(),  # as lookup('file') gives it
        "renew_before_days": 30,
        "now": iso(NOW),
        "certificates": certificates,
    }
    result.update(changes)
    return result


def run(module_args, capsys, check_mode=False, module=None):
    module = module or load_library_module("teletreball_pki_host")
    return run_main(module, module_args, capsys, check_mode)


def sign(csr, ca, capsys, content=None, force=True, not_after="+90d"):
    """The role's signing task: community.crypto.x509_certificate_pipe, provider ownca."""
    pipe_args = {
        "provider": "ownca",
        "csr_content": csr,
        "ownca_content": ca["cert"],
        "ownca_privatekey_content": ca["key"],
        "ownca_not_before": "-10m",
        "ownca_not_after": not_after,
        "force": force,
    }
    if content is not None:
        pipe_args["content"] = content
    result = run_main(importlib.import_module(PIPE), pipe_args, capsys)
    assert result["rc"] == 0, result.get("msg")
    return result


def install(pki, name, certificate, ca, mode=0o644):
    """The role's installation step: certificate, chain and full chain files."""
    cert = certificate.strip() + "\n"
    chain = ca["cert"].strip() + "\n"
    for suffix, content in ((".crt", cert), (".chain.crt", chain),
                            (".fullchain.crt", cert + chain)):
        path = pki / f"{name}{suffix}"
        path.write_text(content)
        os.chmod(path, mode)


def converge(pki, ca, certificates, capsys, not_after="+90d"):
    """A whole run: check, sign what the module asks for, install; the second result."""
    first = run(args(pki, ca, certificates), capsys)
    assert first["rc"] == 0, first.get("msg")
    for item in first["certificates"]:
        if item["csr"]:
            signed = sign(item["csr"], ca, capsys, not_after=not_after)
            install(pki, item["name"], signed["certificate"], ca)
    return first


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def load_certificate(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def public_key_pem(public_key):
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def by_name(result):
    return {item["name"]: item for item in result["certificates"]}


# --- first run, steady state ----------------------------------------------------------


def test_first_run_makes_the_folder_and_keys_and_asks_to_sign_both(pki, ca, capsys):
    certificates = [entry("intranet", key={"type": "RSA", "size": 2048}),
                    entry("sip", key_mode="0600", extended_key_usage=["serverAuth", "clientAuth"])]
    result = run(args(pki, ca, certificates), capsys)
    assert result["rc"] == 0 and result["changed"] is True
    assert result["directory_created"] is True and mode(pki) == 0o755
    assert result["to_sign"] == ["intranet", "sip"]
    assert result["changed_keys"] == ["intranet", "sip"]
    for item in result["certificates"]:
        assert item["key"] == "created" and item["needs_signing"] is True
        assert item["reasons"] == ["new key"] and item["certificate"] is None
        assert item["csr"].startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert mode(pki / "intranet.key") == 0o640 and mode(pki / "sip.key") == 0o600
    key = serialization.load_pem_private_key((pki / "intranet.key").read_bytes(), None)
    assert key.key_size == 2048
    # The PEM labels are built, so that no tracked file holds a key's first line.
    label = b"PRIVATE " + b"KEY-----"
    assert (pki / "intranet.key").read_bytes().startswith(b"-----BEGIN RSA " + label)
    assert (pki / "sip.key").read_bytes().startswith(b"-----BEGIN EC " + label)
    # Only the keys, no candidate left; no key in the result.
    assert sorted(os.listdir(pki)) == ["intranet.key", "sip.key"]
    assert "PRIVATE KEY" not in result["raw"]
    csr = x509.load_pem_x509_csr(by_name(result)["intranet"]["csr"].encode())
    assert csr.is_signature_valid
    assert public_key_pem(csr.public_key()) == public_key_pem(key.public_key())


def test_the_request_is_the_one_openssl_csr_pipe_made(pki, ca, capsys):
    """Same subject and extensions (values, criticality, order) as the role's former
    community.crypto.openssl_csr_pipe task."""
    item = entry(subject_alt_names=["DNS:b.test", "DNS:a.test", "IP:10.0.0.1"],
                 key_usage=["digitalSignature", "keyEncipherment"],
                 key={"type": "RSA", "size": 2048},
                 extended_key_usage=["serverAuth", "clientAuth"])
    result = run(args(pki, ca, [item]), capsys)
    csr = x509.load_pem_x509_csr(result["certificates"][0]["csr"].encode())
    assert csr.subject.rfc4514_string() == "CN=intranet.teletreball.test"
    assert [(ext.oid._name, ext.critical) for ext in csr.extensions] == [
        ("subjectAltName", False), ("keyUsage", True), ("extendedKeyUsage", False),
        ("basicConstraints", True)]
    names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(getattr(name, "value", name)) for name in names] == [
        "b.test", "a.test", "10.0.0.1"]
    usage = csr.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment and not usage.key_agreement
    constraints = csr.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is False and constraints.path_length is None
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA256)


def test_a_certificate_the_pipe_issued_is_kept_and_nothing_changes(pki, ca, capsys, monkeypatch):
    certificates = [entry("intranet"), entry("sip", key_mode="0600")]
    converge(pki, ca, certificates, capsys)
    before = {path.name: os.stat(path) for path in pki.iterdir()}
    module = load_library_module("teletreball_pki_host")
    monkeypatch.setattr(module.tempfile, "mkstemp", lambda **kw: pytest.fail("wrote a key"))
    result = run(args(pki, ca, certificates), capsys, module=module)
    assert result["rc"] == 0 and result["changed"] is False
    assert result["to_sign"] == [] and result["changed_keys"] == [] and result["diff"] == []
    for item in result["certificates"]:
        assert item["key"] == "kept" and item["needs_signing"] is False
        assert item["reasons"] == [] and item["csr"] is None and item["stale_files"] == []
        assert item["certificate"] == (pki / f"{item['name']}.crt").read_text()
        assert item["not_after"].endswith("Z")
    after = {path.name: os.stat(path) for path in pki.iterdir()}
    assert {name: (s.st_ino, s.st_mtime_ns, s.st_ctime_ns) for name, s in before.items()} == {
        name: (s.st_ino, s.st_mtime_ns, s.st_ctime_ns) for name, s in after.items()}


def test_the_returned_certificate_is_trimmed_with_one_final_newline(pki, ca, capsys):
    """As the role's copy task wrote it: content | trim, then a newline."""
    certificates = [entry()]
    converge(pki, ca, certificates, capsys)
    pem = (pki / "intranet.crt").read_text()
    (pki / "intranet.crt").write_text("\n" + pem.strip() + "\n\n\n")
    os.chmod(pki / "intranet.crt", 0o644)
    item = run(args(pki, ca, certificates), capsys)["certificates"][0]
    assert item["needs_signing"] is False and item["certificate"] == pem
    # The file is rewritten trimmed; the full chain already holds the trimmed text.
    assert item["stale_files"] == [str(pki / "intranet.crt")]


# --- what makes a certificate to sign again, as the signing module sees it -------------


def check_against_the_pipe(pki, ca, certificates, capsys, name="intranet"):
    """The module's verdict on the installed certificate, and the pipe's (without
    force, given the installed certificate and the module's request)."""
    module = load_library_module("teletreball_pki_host")
    result = run(args(pki, ca, certificates), capsys, module=module)
    assert result["rc"] == 0, result.get("msg")
    item = by_name(result)[name]
    # A request for the wanted certificate, even when the module asks for none.
    spec = next(c for c in certificates if c["name"] == name)
    key = serialization.load_pem_private_key((pki / f"{name}.key").read_bytes(), None)
    problems = []
    wanted = module.wanted_extensions(dict(spec, extended_key_usage=spec["extended_key_usage"]),
                                      name, problems)
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, spec["common_name"])])
    csr = module.make_request(key, {"subject": subject, "extensions": wanted})
    verdict = sign(csr, ca, capsys, content=(pki / f"{name}.crt").read_text(), force=False)
    return item, verdict["changed"]


@pytest.mark.parametrize(("change", "reason"), [
    ({"subject_alt_names": ["DNS:intranet.teletreball.test", "IP:127.0.0.1", "DNS:x.test"]},
     "different subject alternative names"),
    ({"subject_alt_names": ["IP:127.0.0.1", "DNS:intranet.teletreball.test"]},
     "different subject alternative names"),
    ({"common_name": "other.teletreball.test"}, "different subject"),
    ({"extended_key_usage": ["serverAuth", "clientAuth"]}, "different extended key usage"),
    ({"key_usage": ["digitalSignature", "keyAgreement"]}, "different key usage"),
])
def test_a_changed_request_is_signed_again_as_the_pipe_would(pki, ca, capsys, change, reason):
    converge(pki, ca, [entry()], capsys)
    item, pipe_reissues = check_against_the_pipe(pki, ca, [entry(**change)], capsys)
    assert item["needs_signing"] is True and item["reasons"] == [reason]
    assert item["key"] == "kept" and item["csr"] and item["certificate"] is None
    assert pipe_reissues is True
    # The controller signs the new request: the next run keeps the result.
    install(pki, "intranet", sign(item["csr"], ca, capsys)["certificate"], ca)
    again, pipe_reissues = check_against_the_pipe(pki, ca, [entry(**change)], capsys)
    assert again["needs_signing"] is False and pipe_reissues is False


def test_a_certificate_another_ca_signed_is_signed_again(pki, ca, rogue_ca, capsys):
    """Same name as the internal CA, right subject, names, usages and key: only the
    signature (and key identifier) is wrong."""
    converge(pki, rogue_ca, [entry()], capsys)
    install(pki, "intranet", (pki / "intranet.crt").read_text(), ca)  # chain of the real CA
    item, pipe_reissues = check_against_the_pipe(pki, ca, [entry()], capsys)
    assert item["needs_signing"] is True and pipe_reissues is True
    assert item["reasons"] == ["not signed by the CA", "wrong authority key identifier"]


def test_a_certificate_of_a_renamed_ca_is_signed_again(pki, ca, capsys):
    converge(pki, ca, [entry()], capsys)
    renamed = make_ca("another internal CA")
    item, pipe_reissues = check_against_the_pipe(pki, renamed, [entry()], capsys)
    assert item["needs_signing"] is True and pipe_reissues is True
    assert "different issuer" in item["reasons"] and "not signed by the CA" in item["reasons"]


def test_a_certificate_of_another_key_is_signed_again(pki, ca, capsys):
    converge(pki, ca, [entry("intranet"), entry("sip")], capsys)
    (pki / "intranet.crt").write_bytes((pki / "sip.crt").read_bytes())
    item, pipe_reissues = check_against_the_pipe(pki, ca, [entry("intranet"), entry("sip")],
                                                 capsys)
    assert pipe_reissues is True and item["needs_signing"] is True
    assert item["reasons"][0] == "different public key"


@pytest.mark.parametrize(("content", "reason"), [
    (None, "no certificate"),
    ("not a certificate\n", "unreadable certificate"),
    ("", "unreadable certificate"),
])
def test_a_missing_or_unreadable_certificate_is_signed(pki, ca, capsys, content, reason):
    converge(pki, ca, [entry()], capsys)
    (pki / "intranet.crt").unlink()
    if content is not None:
        (pki / "intranet.crt").write_text(content)
    item = run(args(pki, ca, [entry()]), capsys)["certificates"][0]
    assert item["needs_signing"] is True and item["reasons"] == [reason]
    assert item["csr"] and item["certificate"] is None and item["not_after"] is None
    assert str(pki / "intranet.crt") in item["stale_files"]


# --- renewal window --------------------------------------------------------------------


@pytest.mark.parametrize(("days_later", "renew", "expected"), [
    (0, 30, False),    # 90 days left
    (59, 30, False),   # 31 days left
    (61, 30, True),    # 29 days left: inside the window
    (80, 0, False),    # renew only when expired: 10 days left
    (91, 0, True),     # expired
    (1, 90, True),     # window as long as the validity: every later run
])
def test_the_renewal_window(pki, ca, capsys, days_later, renew, expected):
    converge(pki, ca, [entry()], capsys, not_after="+90d")
    later = NOW + datetime.timedelta(days=days_later)
    result = run(args(pki, ca, [entry()], now=iso(later), renew_before_days=renew), capsys)
    item = result["certificates"][0]
    assert item["needs_signing"] is expected
    if expected:
        assert item["reasons"] == ["inside the renewal window"] and item["csr"]
        assert item["key"] == "kept"


def test_without_now_the_host_clock_is_used(pki, ca, capsys):
    converge(pki, ca, [entry()], capsys, not_after="+20d")
    module_args = args(pki, ca, [entry()])
    del module_args["now"]
    item = run(module_args, capsys)["certificates"][0]
    assert item["reasons"] == ["inside the renewal window"]


# --- keys --------------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "problem"), [
    (b"garbage\n", "not an unencrypted PEM private key"),
    ("encrypted", "not an unencrypted PEM private key"),
    ("rsa", "it is an RSA 2048 key, not ECC secp256r1"),
    ("p384", "it is an ECC secp384r1 key, not ECC secp256r1"),
])
def test_a_key_of_the_wrong_kind_is_replaced_and_signed_again(pki, ca, capsys, content, problem):
    from cryptography.hazmat.primitives.asymmetric import rsa
    converge(pki, ca, [entry()], capsys)
    if content == "encrypted":
        key = ec.generate_private_key(ec.SECP256R1())
        content = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.BestAvailableEncryption(b"secret"))
    elif content in ("rsa", "p384"):
        key = (rsa.generate_private_key(65537, 2048) if content == "rsa"
               else ec.generate_private_key(ec.SECP384R1()))
        content = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
    (pki / "intranet.key").write_bytes(content)
    result = run(args(pki, ca, [entry()]), capsys)
    item = result["certificates"][0]
    assert result["changed"] is True and result["changed_keys"] == ["intranet"]
    assert item["key"] == "replaced" and problem in item["key_problem"]
    assert item["reasons"] == ["new key"] and item["csr"]
    new = serialization.load_pem_private_key((pki / "intranet.key").read_bytes(), None)
    assert isinstance(new, ec.EllipticCurvePrivateKey) and new.curve.name == "secp256r1"
    assert mode(pki / "intranet.key") == 0o640


def test_a_key_with_a_loose_mode_is_corrected_in_place_and_kept(pki, ca, capsys):
    converge(pki, ca, [entry()], capsys)
    key = pki / "intranet.key"
    os.chmod(key, 0o644)
    content, inode = key.read_bytes(), os.stat(key).st_ino
    result = run(args(pki, ca, [entry()]), capsys)
    item = result["certificates"][0]
    assert result["changed"] is True and item["key"] == "corrected"
    assert item["needs_signing"] is False and item["csr"] is None
    assert mode(key) == 0o640 and key.read_bytes() == content and os.stat(key).st_ino == inode
    assert result["diff"] == [{
        "before_header": f"{key} (mode, owner, group)",
        "after_header": f"{key} (mode, owner, group)",
        "before": {"mode": "0644", "owner": OWNER, "group": GROUP},
        "after": {"mode": "0640", "owner": OWNER, "group": GROUP},
    }]


def test_a_key_in_pkcs8_is_kept(pki, ca, capsys):
    """Like openssl_privatekey (format auto_ignore): the format of a good key is not checked."""
    converge(pki, ca, [entry()], capsys)
    key = serialization.load_pem_private_key((pki / "intranet.key").read_bytes(), None)
    (pki / "intranet.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    result = run(args(pki, ca, [entry()]), capsys)
    assert result["changed"] is False and result["certificates"][0]["needs_signing"] is False


# --- chains --------------------------------------------------------------------------------


def test_stale_chain_files_are_reported_without_signing(pki, ca, capsys):
    converge(pki, ca, [entry()], capsys)
    (pki / "intranet.chain.crt").write_text("old CA\n")
    os.chmod(pki / "intranet.fullchain.crt", 0o600)
    item = run(args(pki, ca, [entry()]), capsys)["certificates"][0]
    assert item["needs_signing"] is False
    assert item["stale_files"] == [str(pki / "intranet.chain.crt"),
                                   str(pki / "intranet.fullchain.crt")]


def test_a_new_ca_certificate_makes_the_chains_stale(pki, ca, capsys):
    converge(pki, ca, [entry()], capsys)
    other = make_ca()
    item = run(args(pki, other, [entry()]), capsys)["certificates"][0]
    assert item["needs_signing"] is True
    assert item["stale_files"] == [str(pki / f"intranet{suffix}")
                                   for suffix in (".crt", ".chain.crt", ".fullchain.crt")]


# --- check mode ----------------------------------------------------------------------------


def test_check_mode_on_a_new_host_writes_nothing_and_has_no_request(pki, ca, capsys):
    result = run(args(pki, ca, [entry("intranet"), entry("sip")]), capsys, check_mode=True)
    assert result["rc"] == 0 and result["changed"] is True
    assert result["directory_created"] is True and not pki.exists()
    assert result["changed_keys"] == ["intranet", "sip"]
    assert result["to_sign"] == ["intranet", "sip"]
    for item in result["certificates"]:
        assert item["key"] == "created" and item["needs_signing"] is True
        assert item["csr"] is None
    assert [diff["before"] for diff in result["diff"]] == [
        {"path": str(pki), "state": "absent"},
        {"path": str(pki / "intranet.key"), "state": "absent"},
        {"path": str(pki / "sip.key"), "state": "absent"},
    ]


def test_check_mode_on_a_converged_host_reports_nothing(pki, ca, capsys):
    converge(pki, ca, [entry()], capsys)
    result = run(args(pki, ca, [entry()]), capsys, check_mode=True)
    assert result["changed"] is False and result["to_sign"] == [] and result["diff"] == []


def test_check_mode_changes_nothing_but_reports_and_requests(pki, ca, capsys):
    converge(pki, ca, [entry("intranet"), entry("sip")], capsys)
    os.chmod(pki / "intranet.key", 0o600)
    (pki / "sip.key").write_text("broken\n")
    before = {path.name: path.read_bytes() for path in pki.iterdir()}
    modes = {path.name: mode(path) for path in pki.iterdir()}
    changed = [entry("intranet", subject_alt_names=["DNS:new.test"]), entry("sip")]
    result = run(args(pki, ca, changed), capsys, check_mode=True)
    assert result["changed"] is True and result["changed_keys"] == ["intranet", "sip"]
    items = by_name(result)
    # The key that is only corrected can sign a request; the one to replace cannot.
    assert items["intranet"]["key"] == "corrected" and items["intranet"]["csr"]
    assert items["sip"]["key"] == "replaced" and items["sip"]["csr"] is None
    assert {path.name: path.read_bytes() for path in pki.iterdir()} == before
    assert {path.name: mode(path) for path in pki.iterdir()} == modes


def test_check_mode_warns_about_missing_accounts(pki, ca, capsys, monkeypatch):
    warnings = []
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, text, **kw: warnings.append(text))
    result = run(args(pki, ca, [entry(owner="tt-no-such-user")]), capsys, check_mode=True)
    assert result["rc"] == 0 and result["changed"] is True
    assert "owner 'tt-no-such-user' of certificate 'intranet'" in " ".join(warnings)


# --- error paths ---------------------------------------------------------------------------


def test_every_problem_is_reported_at_once_and_nothing_is_written(pki, ca, capsys):
    certificates = [
        entry("../escape"),
        entry("twice"),
        entry("twice"),
        entry("sans", subject_alt_names=["intranet.test", "IP:999.1.1.1"]),
        entry("empty", subject_alt_names=[], common_name=""),
        entry("usages", key_usage=["signEverything"], extended_key_usage=["anyThing"]),
        entry("rsa", key={"type": "RSA"}),
        entry("small", key={"type": "RSA", "size": 1024}),
        entry("ecc", key={"type": "ECC", "size": 256}),
        entry("mode", key_mode="640"),
        entry("owner", owner="tt-no-such-user", group="tt-no-such-group"),
    ]
    result = run(args(pki, ca, certificates, ca_certificate="not PEM", now="yesterday",
                      renew_before_days=-1, directory_mode="755"), capsys)
    assert result["rc"] == 1 and result["failed"] is True and result["changed"] is False
    message = result["msg"]
    for expected in (
        "'../escape': the name must be", "'twice' is listed twice",
        "subject alternative name 'intranet.test'", "'IP:999.1.1.1'",
        "'empty': subject_alt_names must not be empty", "'empty': common_name must not be empty",
        "unknown: ['signEverything']", "unknown: ['anyThing']",
        "'rsa': an RSA key needs a size", "'small': an RSA key needs a size",
        "'ecc': an ECC key needs a curve and no size", "'mode': key_mode must be four octal",
        "owner 'tt-no-such-user'", "group 'tt-no-such-group'",
        "ca_certificate is not a PEM certificate", "now must be an ISO 8601 time",
        "renew_before_days must be 0 or more", "directory_mode must be four octal",
    ):
        assert expected in message, expected
    assert not pki.exists()


def test_a_relative_folder_is_refused(ca, capsys):
    result = run(args("relative/pki", ca, [entry()]), capsys)
    assert result["failed"] is True and "must be an absolute path" in result["msg"]


@pytest.mark.parametrize("suffix", [".key", ".crt", ".chain.crt", ".fullchain.crt"])
def test_a_link_in_place_of_a_file_is_refused_before_any_change(pki, ca, capsys, tmp_path,
                                                                 suffix):
    pki.mkdir()
    target = tmp_path / "elsewhere"
    target.write_text("x\n")
    (pki / f"sip{suffix}").symlink_to(target)
    result = run(args(pki, ca, [entry("intranet"), entry("sip")]), capsys)
    assert result["failed"] is True and "is not a regular file" in result["msg"]
    assert not (pki / "intranet.key").exists() and target.read_text() == "x\n"


def test_a_failed_key_write_leaves_no_candidate_and_names_what_changed(pki, ca, capsys,
                                                                       monkeypatch):
    module = load_library_module("teletreball_pki_host")
    real_replace = os.replace
    calls = []

    def replace(source, destination):
        calls.append(destination)
        if str(destination).endswith("sip.key"):
            raise OSError(28, "No space left on device")
        return real_replace(source, destination)

    monkeypatch.setattr(module.os, "replace", replace)
    result = run(args(pki, ca, [entry("intranet"), entry("sip")]), capsys, module=module)
    assert result["failed"] is True and "Cannot write the key" in result["msg"]
    assert "No space left on device" in result["msg"]
    assert "Keys already changed in this call: intranet, sip." in result["msg"]
    assert sorted(os.listdir(pki)) == ["intranet.key"]


def test_without_cryptography_the_module_says_which_package(pki, ca, capsys):
    module = load_library_module("teletreball_pki_host")
    module.HAS_CRYPTOGRAPHY = False
    result = run(args(pki, ca, [entry()]), capsys, module=module)
    assert result["failed"] is True and "python3-cryptography" in result["msg"]


def test_the_host_log_has_names_not_pem(pki, ca, capsys, monkeypatch):
    logged = []
    monkeypatch.setattr(AnsibleModule, "log",
                        lambda self, msg, log_args=None: logged.append((msg, log_args)))
    run(args(pki, ca, [entry()]), capsys)
    text = json.dumps(logged)
    assert "intranet" in text and "BEGIN CERTIFICATE" not in text
