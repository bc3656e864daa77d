"""docs/controls.md must match the controls catalogue it is generated from."""

from __future__ import annotations

import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_controls_doc_is_current():
    result = subprocess.run(
        [sys.executable, str(REPO / "harness" / "controls_doc.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
