"""supervisord's poller and the stale registration of issue 807: a pipe that inherited a
closed socket's "readable" registration and whose reader has gone."""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import supervisor.poller

from medsys.launcher.supervisord_main import StaleRegistrationDroppingPoller, use_fixed_poller


@pytest.fixture
def orphaned_write_end() -> Iterator[int]:
    """The write end of a pipe whose read end is closed: what a child's stdin looks like to
    supervisord once the child has closed it."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    yield write_end
    os.close(write_end)


def _poller(kind: type) -> Any:
    return kind(SimpleNamespace(logger=SimpleNamespace(blather=lambda *_a, **_k: None)))


def test_the_published_poller_answers_such_a_pipe_at_once_forever(orphaned_write_end: int) -> None:
    """The bug itself: every poll returns immediately, with nothing to read or write, so
    supervisord's loop never sleeps."""
    poller = _poller(supervisor.poller.PollPoller)
    poller.register_readable(orphaned_write_end)
    for _ in range(3):
        assert poller._poller.poll(1000) == [(orphaned_write_end, 8)]  # POLLERR
        assert poller.poll(1.0) == ([], [])
    assert orphaned_write_end in poller.readables


def test_the_fixed_poller_forgets_it_after_one_answer(orphaned_write_end: int) -> None:
    poller = _poller(StaleRegistrationDroppingPoller)
    poller.register_readable(orphaned_write_end)
    assert poller.poll(0.0) == ([], [])
    assert orphaned_write_end not in poller.readables
    # Nothing registered is left: the next poll sleeps its whole timeout instead of spinning.
    assert poller._poller.poll(0) == []


def test_the_fixed_poller_still_reports_a_pipe_with_something_to_read() -> None:
    read_end, write_end = os.pipe()
    poller = _poller(StaleRegistrationDroppingPoller)
    poller.register_readable(read_end)
    try:
        os.write(write_end, b"log line\n")
        assert poller.poll(0.0) == ([read_end], [])
        os.read(read_end, 100)
        os.close(write_end)
        # A closed writer is a hang-up the registration asked for: still reported, so the
        # dispatcher sees end of file as before.
        assert poller.poll(0.0) == ([read_end], [])
    finally:
        os.close(read_end)


def test_supervisord_is_given_the_fixed_poller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor.poller, "Poller", supervisor.poller.PollPoller)
    use_fixed_poller()
    assert supervisor.poller.Poller is StaleRegistrationDroppingPoller
