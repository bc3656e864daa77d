"""Constants and helpers of the pki scenario's tests (fixtures: conftest.py).

The expected certificates mirror the host_vars of molecule.yml.
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import time

from teletreball_testinfra import run_converge

# The scenario's instances are podman containers named after the platforms.
SERVER = "podman://pki-server"
CLIENT = "podman://pki-client"

PKI_DIR = "/etc/teletreball/pki"
TRUST_FILE = "/usr/local/share/ca-certificates/teletreball-pki/teletreball-internal-ca.crt"
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
CA_COMMON_NAME = "teletreball internal CA"
VALIDITY_DAYS = 90  # pki_certificate_validity_days of molecule.yml
RENEW_DAYS_BEFORE = 30  # pki_renew_days_before of molecule.yml

# Certificates issued by the role on pki-server (molecule.yml host_vars).
ISSUED = {
    "intranet": {
        "common_name": "intranet.teletreball.test",
        "sans": {"DNS:intranet.teletreball.test", "DNS:xmpp.teletreball.test", "IP:127.0.0.1"},
        "owner": "root",
        "group": "tt-svc",
        "key_mode": 0o640,
        "key_type": "RSA",
        "purposes": ("sslserver",),
    },
    "sip": {
        "common_name": "sip.teletreball.test",
        "sans": {"DNS:sip.teletreball.test"},
        "owner": "tt-svc",
        "group": "tt-svc",
        "key_mode": 0o600,
        "key_type": "EC",
        "purposes": ("sslserver", "sslclient"),
    },
}
# The certificate issued elsewhere (prepare.yml), installed by the role.
EXTERNAL = {"name": "portal", "dns": "portal.teletreball.test", "owner": "root", "group": "tt-svc"}

REPO = pathlib.Path(os.environ.get("TT_ROOT") or pathlib.Path(__file__).resolve().parents[5])


def ca_params() -> dict:
    """The params of PKI-CA-01 (roles/pki/tasks/audit.yml) in this scenario: pki_ca_dir,
    the default CA key (pki_ca_key_type RSA)."""
    return {"pki_ca_dir": str(ca_dir()), "pki_ca_key": {"type": "RSA", "size": 4096},
            "credentials_folder": str(ephemeral_dir() / "credentials"),
            "pki_ca_passphrase_file": str(passphrase_file()), "pki_ca_passphrase_variable": False}


def crt_params(issued: bool) -> dict:
    """The params of PKI-CRT-01 (roles/pki/tasks/audit.yml): the controller's CA and, on
    pki-server, the certificates of molecule.yml (none on pki-client)."""
    certificates = [
        {"name": name, "common_name": item["common_name"],
         "subject_alt_names": sorted(item["sans"]), "owner": item["owner"],
         "group": item["group"], "key_mode": f"{item['key_mode']:04o}"}
        for name, item in sorted(ISSUED.items())
    ] if issued else []
    return {"pki_ca_certificate": (ca_dir() / "ca.crt").read_text(encoding="utf-8"),
            "pki_certificates": certificates, "pki_renew_days_before": RENEW_DAYS_BEFORE}


def ephemeral_dir() -> pathlib.Path:
    return pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])


def ca_dir() -> pathlib.Path:
    """pki_ca_dir of the scenario: teletreball_credentials_dir/pki."""
    return ephemeral_dir() / "credentials" / "pki"


def passphrase_file() -> pathlib.Path:
    """pki_ca_passphrase_file of the scenario: beside the credentials folder, outside it."""
    return ephemeral_dir() / "credentials.ca-passphrase"


def external_dir() -> pathlib.Path:
    """The throwaway external CA and certificate made by prepare.yml."""
    return ephemeral_dir() / "external"


def serial(host, name: str) -> str:
    return host.check_output(f"openssl x509 -noout -serial -in {PKI_DIR}/{name}.crt").strip()


def verify(host, name: str, purpose: str = "sslserver"):
    """openssl verify of an installed certificate against the installed internal CA."""
    return host.run(
        f"openssl verify -x509_strict -purpose {purpose} "
        f"-CAfile {PKI_DIR}/ca.crt {PKI_DIR}/{name}.crt"
    )


def public_key_of_certificate(host, path: str) -> str:
    return host.check_output(f"openssl x509 -noout -pubkey -in {path}")


def public_key_of_key(host, path: str) -> str:
    return host.check_output(f"openssl pkey -pubout -in {path}")


def curl(host, name: str, port: int, address: str, options: str = ""):
    """HTTPS GET of https://name:port/ with name resolved to address; the
    certificate is checked against the system trust store unless options say
    otherwise. Returns the testinfra result (stdout: the HTTP status)."""
    url = f"https://{name}:{port}/"
    return host.run(
        f"curl --silent --show-error --max-time 10 --fail --output /dev/null "
        f"--write-out '%{{http_code}}' --resolve {name}:{port}:{address} {options} "
        f"{shlex.quote(url)}"
    )


def start_tls_server(host, name: str, port: int) -> None:
    """Serve the installed certificate `name` (key and chain) with openssl
    s_server -www on port, as a transient unit; wait until it listens."""
    unit = f"tt-test-tls-{port}"
    host.run(f"systemctl stop {unit}.service")
    host.check_output(
        f"systemd-run --unit={unit} --collect openssl s_server -quiet -www -accept {port} "
        f"-cert {PKI_DIR}/{name}.crt -key {PKI_DIR}/{name}.key "
        f"-cert_chain {PKI_DIR}/{name}.chain.crt"
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if host.run(f"ss -Hltn 'sport = :{port}'").stdout.strip():
            return
        time.sleep(0.3)
    raise AssertionError(f"openssl s_server for {name} did not listen on port {port}")


def stop_tls_server(host, port: int) -> None:
    host.run(f"systemctl stop tt-test-tls-{port}.service")


def converge(*arguments: str) -> dict:
    """Run the scenario's converge.yml again; return the per-host stats."""
    _, stats = run_converge(*arguments)
    return stats


def extra_vars(**variables) -> tuple[str, str]:
    """-e arguments for converge()."""
    return ("--extra-vars", json.dumps(variables))
