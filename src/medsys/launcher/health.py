"""``medsys-health URL``: the containers' HTTP healthcheck (exit 0 on a 2xx answer).

The slim Python image has no curl; a console script keeps the healthcheck one short argv.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 3.0


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1 or not arguments[0].startswith("http://"):
        print("usage: medsys-health http://HOST:PORT/PATH", file=sys.stderr)
        return 2
    try:
        with urllib.request.urlopen(arguments[0], timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310 - http only, checked above
            return 0 if 200 <= answer.status < 300 else 1
    except (urllib.error.URLError, OSError) as error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
