"""Fixtures of the vpn scenario."""

from __future__ import annotations

import pytest
from vpn_helpers import CLIENTS, tunnel_up


@pytest.fixture(scope="session")
def tunnels():
    """Both clients with their tunnel up, from the profiles of their welcome packs."""
    return {name: tunnel_up(name) for name in CLIENTS}
