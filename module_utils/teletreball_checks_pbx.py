# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live checks of the PBX (PBX-*, TT-EXT-01): see module_utils/teletreball_audit.py."""

from __future__ import annotations

from ansible.module_utils.teletreball_audit import control  # noqa: F401
