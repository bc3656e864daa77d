"""Order of the stack tests: the remote worker's day, then what the Internet and
the tunnel reach, the central logs, the audit of the lab (on the directory as
converged), the backup and restore of the credentials folder, the renewal of
every certificate (her pack's tunnel and chat password), then the offboarding
(it changes the staff directory)."""

from __future__ import annotations

ORDER = [
    "test_remote_worker", "test_exposure", "test_central_logs", "test_audit", "test_backup",
    "test_certificate_renewal", "test_offboarding",
]


def pytest_collection_modifyitems(items):
    def rank(item):
        module = item.module.__name__.rsplit(".", 1)[-1]
        return ORDER.index(module) if module in ORDER else len(ORDER)

    items.sort(key=rank)
