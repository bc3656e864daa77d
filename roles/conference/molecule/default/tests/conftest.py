"""The offboarding tests change the inventory: they run after every other test."""

from __future__ import annotations


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: "offboarding" in item.nodeid)
