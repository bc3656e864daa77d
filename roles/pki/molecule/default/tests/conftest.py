"""Fixtures of the pki scenario.

pki-server holds the certificates (issued by the role's CA, and one external);
pki-client only trusts the internal CA and plays the TLS client. Controller-side
tests (the CA folder) take no ``host`` fixture and run once.
"""

from __future__ import annotations

import pytest
import testinfra
from pki_helpers import CLIENT, SERVER


@pytest.fixture(scope="session")
def server():
    return testinfra.get_host(SERVER)


@pytest.fixture(scope="session")
def client():
    return testinfra.get_host(CLIENT)


@pytest.fixture(scope="session")
def server_address(server):
    return server.check_output("hostname -I").split()[0]
