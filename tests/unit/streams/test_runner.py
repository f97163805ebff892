"""The child process builds its own batch handler from a function it receives by name."""

from __future__ import annotations

import pickle

import pytest

from streams.runner import ProcessRunner
from streams.worker import build_handler


def test_the_worker_hands_the_child_a_function_it_can_unpickle() -> None:
    assert pickle.loads(pickle.dumps(build_handler)) is build_handler
    ProcessRunner("{}", build_handler)  # accepted: nothing starts until start()


def test_a_build_function_the_child_cannot_unpickle_is_refused_at_once() -> None:
    with pytest.raises(TypeError, match="module-level build function"):
        ProcessRunner("{}", lambda settings: build_handler(settings))
