# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live checks of the CA, the council's package repository and the controller
(PKI-*, REPO-SIG-01, TT-SEC-01, TT-DIR-01): see module_utils/teletreball_audit.py."""

from __future__ import annotations

from ansible.module_utils.teletreball_audit import control  # noqa: F401
