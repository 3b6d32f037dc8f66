"""emkit.cli._gc: no garbage collection while a command imports, what was made frozen after."""

from __future__ import annotations

import gc
import sys
import types

import pytest

from emkit.cli._gc import loading_libraries


@pytest.fixture
def collector():
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    (gc.enable if enabled else gc.disable)()


def test_paused_inside_then_running_again_with_the_objects_frozen(collector):
    gc.enable()
    gc.unfreeze()
    with loading_libraries():
        assert not gc.isenabled()
        made = [[] for _ in range(100)]
        sys.modules["emkit_loaded_for_this_test"] = types.ModuleType("emkit_loaded_for_this_test")
    del sys.modules["emkit_loaded_for_this_test"]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(made)


def test_nothing_is_frozen_when_no_module_was_loaded(collector):
    gc.enable()
    gc.unfreeze()
    with loading_libraries():
        made = [[] for _ in range(100)]
    assert gc.isenabled() and made
    assert gc.get_freeze_count() == 0


def test_a_failed_import_still_turns_it_back_on(collector):
    gc.enable()
    with pytest.raises(ImportError), loading_libraries():
        import emkit.no_such_module  # noqa: F401
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off(collector):
    gc.disable()
    with loading_libraries():
        pass
    assert not gc.isenabled()
