"""The middleware's Gateway (failover between instances, retries, breakers) with a
scripted transport in place of the network: each case is the decision alone, on exact
sequences that live sockets only produce by chance."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from medsys.middleware.resilience.breaker import BreakerPolicy, State
from medsys.middleware.upstreams import (
    AiohttpTransport,
    Answer,
    Call,
    Gateway,
    Upstream,
    UpstreamAnswer,
    UpstreamUnavailable,
    make_session,
    make_upstream,
)

Reply = tuple[int, bytes] | BaseException
FIRST, SECOND = "http://first", "http://second"


class Scripted:
    """Answers each instance from its own script, in order; records what was sent."""

    def __init__(self, **scripts: list[Reply]) -> None:
        self.scripts = {f"http://{name}": list(replies) for name, replies in scripts.items()}
        self.sent: list[tuple[str, str]] = []

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        params: list[tuple[str, str]] | None,
        json: Any,
    ) -> tuple[int, bytes]:
        base = url[: url.index("/", len("http://"))]
        self.sent.append((method, base))
        reply = self.scripts[base].pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply


def refused() -> aiohttp.ClientConnectorError:
    """A connection refused: the request never left this side."""
    return aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("x", 1, False, True, None, None, None),
        ConnectionRefusedError(111, "refused"),
    )


OK = (200, b'{"ok": true}')
GET = Call("GET", "/api/history/11111111-1", headers={})
POST = Call("POST", "/api/slots/7/reserve", headers={}, json={"patient_rut": "11111111-1"})
KEYED_POST = Call(
    "POST", "/api/slots/7/reserve", headers={}, json={}, idempotency_key="key-00000001"
)


def two_instances(policy: BreakerPolicy | None = None) -> Upstream:
    return make_upstream(
        "clinical", [("first", FIRST), ("second", SECOND)], policy or BreakerPolicy()
    )


def run(transport: Scripted, call: Call, upstream: Upstream | None = None) -> Answer:
    gateway = Gateway(transport, deadline=5.0, rounds=3)
    return asyncio.run(gateway.call(upstream or two_instances(), call))


def test_a_refused_instance_hands_the_call_to_the_next_one() -> None:
    transport = Scripted(first=[refused()], second=[OK])
    answer = run(transport, POST)
    assert answer.status == 200 and answer.body == {"ok": True}
    # Even an unkeyed POST may move on: a refused connection never reached the server.
    assert transport.sent == [("POST", FIRST), ("POST", SECOND)]


def test_an_unkeyed_write_that_may_have_landed_is_never_sent_again() -> None:
    transport = Scripted(first=[aiohttp.ServerDisconnectedError()], second=[OK])
    with pytest.raises(UpstreamUnavailable) as raised:
        run(transport, POST)
    assert transport.sent == [("POST", FIRST)]
    assert "ServerDisconnectedError" in str(raised.value)


def test_a_keyed_write_goes_on_to_the_next_instance_after_a_lost_answer() -> None:
    transport = Scripted(first=[aiohttp.ServerDisconnectedError()], second=[OK])
    answer = run(transport, KEYED_POST)
    assert answer.status == 200
    assert transport.sent == [("POST", FIRST), ("POST", SECOND)]


def test_a_4xx_is_the_upstreams_answer_and_no_breaker_failure() -> None:
    upstream = two_instances(BreakerPolicy(consecutive_failures=1))
    busy = (409, b'{"message": "ocupado"}')
    transport = Scripted(first=[busy] * 6)
    for _ in range(6):
        with pytest.raises(UpstreamAnswer) as raised:
            run(transport, GET, upstream)
        assert raised.value.status == 409 and raised.value.body == {"message": "ocupado"}
    # An answer, not a failure: no call went on to the second instance.
    assert transport.sent == [("GET", FIRST)] * 6
    assert [i.breaker.state for i in upstream.instances] == [State.CLOSED, State.CLOSED]


def test_a_5xx_round_is_retried_and_the_next_round_succeeds() -> None:
    transport = Scripted(first=[(503, b"down"), OK], second=[(500, b"oops")])
    answer = run(transport, GET)
    assert answer.status == 200
    # Neither answered in the first round: the second tries them again as listed.
    assert transport.sent == [("GET", FIRST), ("GET", SECOND), ("GET", FIRST)]


def test_open_breakers_answer_at_once_without_a_call() -> None:
    upstream = two_instances(BreakerPolicy(consecutive_failures=1, cool_down=60.0))
    transport = Scripted(first=[refused()], second=[refused()])
    gateway = Gateway(transport, deadline=5.0, rounds=3)
    with pytest.raises(UpstreamUnavailable):
        asyncio.run(gateway.call(upstream, GET))
    assert [i.breaker.state for i in upstream.instances] == [State.OPEN, State.OPEN]
    sent = len(transport.sent)
    with pytest.raises(UpstreamUnavailable, match="circuit open"):
        asyncio.run(gateway.call(upstream, GET))
    assert len(transport.sent) == sent, "no instance is called while every breaker is open"


def test_the_retry_budget_stops_a_retry_storm() -> None:
    upstream = make_upstream("clinical", [("first", FIRST)], BreakerPolicy(consecutive_failures=99))
    failures: Callable[[], list[Reply]] = lambda: [(503, b"down")] * 100  # noqa: E731
    transport = Scripted(first=failures())
    gateway = Gateway(transport, deadline=5.0, rounds=3)
    for _ in range(20):
        with pytest.raises(UpstreamUnavailable):
            asyncio.run(gateway.call(upstream, GET))
    # 20 requests, 3 rounds each if unbudgeted (60 calls); the budget allows about a fifth
    # of the requests as retries, with a floor of 3.
    assert len(transport.sent) < 30
    assert upstream.budget.refused > 0


def test_calls_that_do_not_overlap_stay_on_the_instance_that_answered_last() -> None:
    upstream = two_instances()
    transport = Scripted(first=[OK, OK, refused()], second=[OK, OK, OK])
    for _ in range(5):
        assert run(transport, GET, upstream).status == 200
    # first answers until it is refused; second took the call and keeps the next ones.
    assert transport.sent == [("GET", FIRST)] * 3 + [("GET", SECOND)] * 3
    assert upstream.warm is upstream.instances[1]


class Held:
    """Holds every call to ``first`` until released; answers ``second`` at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.sent: list[str] = []

    async def send(self, method: str, url: str, **_: Any) -> tuple[int, bytes]:
        self.sent.append(url[: url.index("/", len("http://"))])
        if url.startswith(FIRST):
            await self.release.wait()
        return OK


def test_a_busy_instance_gets_no_new_call_while_another_is_idle() -> None:
    upstream = two_instances()
    transport = Held()
    gateway = Gateway(transport, deadline=5.0, rounds=3)

    async def scenario() -> None:
        slow = asyncio.create_task(gateway.call(upstream, GET))  # goes to first, held
        await asyncio.sleep(0)
        assert (await gateway.call(upstream, GET)).status == 200
        assert (await gateway.call(upstream, GET)).status == 200
        transport.release.set()
        assert (await slow).status == 200
        assert [i.outstanding for i in upstream.instances] == [0, 0]

    asyncio.run(scenario())
    assert transport.sent == [FIRST, SECOND, SECOND]


def test_cancelled_half_open_probes_do_not_leave_the_breaker_refusing() -> None:
    """The history joins clinical and admin and cancels admin's call when clinical fails:
    a cancelled probe must give its slot back (seen in CI: admin refused for good)."""
    upstream = make_upstream(
        "admin", [("first", FIRST)], BreakerPolicy(consecutive_failures=1, cool_down=0.0)
    )
    upstream.instances[0].breaker.record(failed=True, duration=0.01)
    assert upstream.instances[0].breaker.state is State.OPEN
    transport = Held()
    gateway = Gateway(transport, deadline=5.0, rounds=3)

    async def scenario() -> None:
        for _ in range(3):  # more cancelled probes than the breaker has slots (2)
            probe = asyncio.create_task(gateway.call(upstream, GET))
            await asyncio.sleep(0)
            assert upstream.instances[0].breaker.state is State.HALF_OPEN
            probe.cancel()
            with pytest.raises(asyncio.CancelledError):
                await probe
        transport.release.set()
        assert (await gateway.call(upstream, GET)).status == 200

    asyncio.run(scenario())
    assert upstream.instances[0].breaker.state is State.CLOSED
    assert upstream.instances[0].outstanding == 0


def test_instances_that_share_a_url_are_one_instance() -> None:
    upstream = make_upstream(
        "clinical",
        [("app1", "http://clinical:5001"), ("app1-replica", "http://clinical:5001")],
        BreakerPolicy(),
    )
    assert [(i.name, i.base_url) for i in upstream.instances] == [("app1", "http://clinical:5001")]
    assert [i.name for i in two_instances().instances] == ["first", "second"]


def test_the_client_carries_no_cookie_from_one_call_into_the_next() -> None:
    """The middleware's one client acts for everybody: a cookie an upstream sets while
    answering one person must not be sent with anyone's next call. Called by name, as in
    containers (aiohttp's default jar ignores cookies from a bare IP address)."""
    from aiohttp import web

    seen: list[str | None] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"ok": True})
        response.set_cookie("session", "first-callers-session")
        return response

    async def scenario() -> None:
        server = web.Application()
        server.router.add_get("/x", answer)
        runner = web.AppRunner(server)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with make_session() as client:
                transport = AiohttpTransport(client)
                for _ in range(2):
                    status, _body = await transport.send(
                        "GET", f"http://localhost:{port}/x", headers={}, params=None, json=None
                    )
                    assert status == 200
        finally:
            await runner.cleanup()

    asyncio.run(scenario())
    assert seen == [None, None]
