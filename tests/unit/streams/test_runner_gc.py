"""The batch process's collector settings (streams/runner.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from streams.runner import GC_YOUNG_THRESHOLD, tune_gc_for_batches


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_loaded_objects_are_frozen_and_young_collections_rarer(restored_gc: None) -> None:
    loaded = [{"weights": [i]} for i in range(1000)]  # stands for the detectors' models
    _, older, oldest = gc.get_threshold()
    tune_gc_for_batches()
    assert gc.get_freeze_count() >= len(loaded)
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, older, oldest)
    # cycles are still collected
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
