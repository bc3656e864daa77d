"""The teletreball_fork callback: the heap is frozen before each task forks workers."""

from __future__ import annotations

import gc
import pathlib
import weakref

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def callback():
    from ansible.plugins.loader import callback_loader

    callback_loader.add_directory(str(REPO / "callback_plugins"))
    plugin = callback_loader.get("teletreball_fork")
    yield plugin
    gc.unfreeze()


def test_it_loads_without_being_enabled(callback):
    assert callback.CALLBACK_NEEDS_ENABLED is False and callback.CALLBACK_TYPE == "aggregate"


def test_a_task_start_freezes_what_is_alive(callback):
    gc.unfreeze()
    kept = [{"n": n} for n in range(1000)]
    callback.v2_playbook_on_task_start(None, False)
    assert gc.get_freeze_count() >= len(kept)


class Node:
    """An object in a reference cycle: only a garbage collection frees it."""

    def __init__(self):
        self.me = self


def test_a_play_start_frees_the_garbage_that_the_freeze_kept(callback):
    gc.unfreeze()
    node = Node()
    alive = weakref.ref(node)
    callback.v2_playbook_on_task_start(None, False)
    del node
    gc.collect()
    assert alive() is not None  # frozen: left out of collections
    callback.v2_playbook_on_handler_task_start(None)
    callback.v2_playbook_on_play_start(None)
    assert alive() is None and gc.get_freeze_count() > 0
