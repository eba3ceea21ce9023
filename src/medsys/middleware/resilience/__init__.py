"""Fault tolerance for upstream calls, as pure logic with injected time.

Exceptions raised towards the routes (all ``UpstreamError``):
- ``UpstreamUnavailable``: every instance failed or was skipped (breaker open); the
  route answers 503 (or a partial answer that says what is missing).
- ``UpstreamAnswer``: an upstream answered 4xx; that is an answer, passed on as it is,
  and it never counts against the breaker.
"""
