"""supervisord, with one upstream bug worked around (Supervisor/supervisor issue 807).

supervisord registers file descriptors with ``poll()`` by number, and forgets a closed one
only when ``poll()`` later answers POLLNVAL for it. The launcher talks to supervisord over
XML-RPC while it starts services in phases: when a request's socket closes and a process
is spawned in the same pass of the loop, the new process's stdin pipe takes the socket's
number and keeps its "readable" registration. Once the child closes its end, ``poll()``
answers that pipe with POLLERR alone, at once, on every call; the loop has no branch for
an event that is neither a read nor a write, so it spins. Measured here: supervisord used
0.8 of this machine's 2 cores on an idle system, and the portal's saturation fell by half.

The loop registers every descriptor it still wants on every pass, so dropping a
registration that answers with neither a read nor a write event loses nothing. The fix is
kept to that one rule (a subclass, not a copy of the loop); supervisor is otherwise used
as published.
"""

from __future__ import annotations

import sys
from typing import Any

import supervisor.poller
import supervisor.supervisord


class StaleRegistrationDroppingPoller(supervisor.poller.PollPoller):  # type: ignore[misc]
    """``PollPoller`` that forgets a descriptor answering only with an error or hang-up
    that its registration did not ask for."""

    def _ignore_invalid(self, fd: int, eventmask: int) -> bool:
        if super()._ignore_invalid(fd, eventmask):
            return True
        if eventmask & (self.READ | self.WRITE):
            return False
        self._poller.unregister(fd)
        self.readables.discard(fd)
        self.writables.discard(fd)
        return True


def use_fixed_poller() -> None:
    """supervisord's options pick ``supervisor.poller.Poller`` when they are built."""
    if supervisor.poller.Poller is supervisor.poller.PollPoller:
        supervisor.poller.Poller = StaleRegistrationDroppingPoller


def main(argv: list[str] | None = None) -> Any:
    use_fixed_poller()
    return supervisor.supervisord.main(args=argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
