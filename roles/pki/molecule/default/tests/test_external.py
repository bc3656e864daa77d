"""A certificate issued elsewhere (standing for ACME; prepare.yml made it with
a throwaway CA) is installed as given, with the same layout as the internal
ones, and served; its CA is not added to the trust store."""

from __future__ import annotations

import shlex

import pytest
from pki_helpers import (
    EXTERNAL,
    PKI_DIR,
    SERVER,
    curl,
    external_dir,
    public_key_of_certificate,
    public_key_of_key,
    start_tls_server,
    stop_tls_server,
)

testinfra_hosts = [SERVER]

PORT = 8444
NAME = EXTERNAL["name"]


@pytest.fixture(scope="module")
def portal_tls(server):
    start_tls_server(server, NAME, PORT)
    yield PORT
    stop_tls_server(server, PORT)


@pytest.fixture(scope="module")
def client_with_external_ca(client):
    """The external CA on pki-client, for curl --cacert."""
    path = client.check_output("mktemp --suffix=.crt")
    ca = (external_dir() / "external-ca.crt").read_text(encoding="utf-8")
    client.check_output(f"printf '%s' {shlex.quote(ca)} > {path}")
    yield client, path
    client.run(f"rm -f {path}")


def test_external_files_are_installed_as_given(host):
    certificate = (external_dir() / "portal.crt").read_text(encoding="utf-8").strip() + "\n"
    chain = (external_dir() / "external-ca.crt").read_text(encoding="utf-8").strip() + "\n"
    assert host.file(f"{PKI_DIR}/{NAME}.crt").content_string == certificate
    assert host.file(f"{PKI_DIR}/{NAME}.chain.crt").content_string == chain
    assert host.file(f"{PKI_DIR}/{NAME}.fullchain.crt").content_string == certificate + chain


def test_external_key_is_private_and_matches(host):
    key = host.file(f"{PKI_DIR}/{NAME}.key")
    assert key.mode == 0o640
    assert key.user == EXTERNAL["owner"]
    assert key.group == EXTERNAL["group"]
    assert public_key_of_key(host, f"{PKI_DIR}/{NAME}.key") == public_key_of_certificate(
        host, f"{PKI_DIR}/{NAME}.crt"
    )


def test_external_certificate_is_served(server_address, portal_tls, client_with_external_ca):
    client, ca = client_with_external_ca
    result = curl(client, EXTERNAL["dns"], portal_tls, server_address, f"--cacert {ca}")
    assert result.rc == 0, result.stderr
    assert result.stdout == "200"


def test_external_ca_is_not_trusted_system_wide(server_address, portal_tls, client):
    result = curl(client, EXTERNAL["dns"], portal_tls, server_address)
    assert result.rc == 60, result.stdout + result.stderr
