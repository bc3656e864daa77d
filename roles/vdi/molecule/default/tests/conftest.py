"""Fixtures of the vdi scenario."""

from __future__ import annotations

import pytest
from vdi_helpers import disconnect


@pytest.fixture(autouse=True)
def _no_client_left_running():
    """Each test starts and ends with FreeRDP stopped on the client."""
    disconnect()
    yield
    disconnect()
