"""A saturation load from wrk (Debian's ``wrk``) instead of Python threads.

Fifty Python threads loading pages back to back cost the machine about 2.6 ms of CPU per
page, an eighth of what the system under test had on two cores: the measurement took its
share of what it measured. wrk, in C with LuaJIT, loads the same pages for a small part
of that. Its Lua script sends each request with the next of the logged-in patients'
cookies, checks that every answer is the page asked for (status and a word only that page
has), and prints one line this module reads.

Hand-written because no library drives wrk; the script is ours, wrk is the tool.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

WRK = "/usr/bin/wrk"

_SCRIPT = """
local cookies = {}
local proof = ""
local next_cookie = 0
failures = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then table.insert(cookies, line) end
  end
  proof = args[2]
end

function request()
  next_cookie = next_cookie % #cookies + 1
  return wrk.format("GET", nil, {["Cookie"] = cookies[next_cookie]})
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, proof, 1, true) then
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + thread:get("failures") end
  local errors = summary.errors
  io.write(string.format("medsys-wrk %d %d %d %d %d %d %d\\n",
    summary.requests, failed, errors.connect + errors.read + errors.write,
    errors.timeout, latency:percentile(50), latency:percentile(99), summary.duration))
end
"""


@dataclass(frozen=True)
class Saturation:
    pages: int  # answered, of any kind
    wrong: int  # not 200, or not the page asked for
    socket_errors: int
    timeouts: int
    p50_seconds: float
    p99_seconds: float
    seconds: float
    generator_cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0


def available() -> bool:
    return shutil.which("wrk") is not None or Path(WRK).exists()


def parse(output: str, generator_cpu_seconds: float = 0.0) -> Saturation:
    """wrk's output, from the line our script's ``done`` prints."""
    for line in output.splitlines():
        if line.startswith("medsys-wrk "):
            pages, wrong, errors, timeouts, p50, p99, micros = (int(x) for x in line.split()[1:])
            return Saturation(
                pages=pages,
                wrong=wrong,
                socket_errors=errors,
                timeouts=timeouts,
                p50_seconds=p50 / 1e6,
                p99_seconds=p99 / 1e6,
                seconds=micros / 1e6,
                generator_cpu_seconds=generator_cpu_seconds,
            )
    raise RuntimeError(f"wrk printed no figures:\n{output[-2000:]}")


def saturate(
    url: str, cookies: list[str], proof: str, *, connections: int, seconds: float
) -> Saturation:
    """``connections`` kept-alive connections loading ``url`` back to back for ``seconds``,
    each request with the next of ``cookies``; one wrk thread (two cores: the second is
    better left to the system under test)."""
    if not cookies:
        raise ValueError("no logged-in session to load pages with")
    with tempfile.TemporaryDirectory(prefix="medsys-wrk-") as folder:
        script = Path(folder) / "pages.lua"
        script.write_text(_SCRIPT, encoding="utf-8")
        jar = Path(folder) / "cookies"
        jar.write_text("\n".join(cookies) + "\n", encoding="utf-8")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        finished = subprocess.run(
            [
                shutil.which("wrk") or WRK,
                "--threads",
                "1",
                "--connections",
                str(connections),
                "--duration",
                f"{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "--script",
                str(script),
                url,
                "--",
                str(jar),
                proof,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if finished.returncode != 0:
        raise RuntimeError(f"wrk failed ({finished.returncode}): {finished.stderr.strip()}")
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return parse(finished.stdout, used)
