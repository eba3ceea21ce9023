"""Reading wrk's figures from the line our Lua script prints."""

from __future__ import annotations

import pytest

from medsys.chaos.wrk_load import parse


def test_the_scripts_line_is_read_in_seconds() -> None:
    output = (
        "Running 15s test @ http://127.0.0.1:3003/history\n"
        "  1 threads and 50 connections\n"
        "medsys-wrk 3022 2 1 0 301200 387000 15012345\n"
    )
    load = parse(output, generator_cpu_seconds=0.27)
    assert (load.pages, load.wrong, load.socket_errors, load.timeouts) == (3022, 2, 1, 0)
    assert load.p50_seconds == pytest.approx(0.3012)
    assert load.p99_seconds == pytest.approx(0.387)
    assert load.per_second == pytest.approx(3022 / 15.012345)
    assert load.generator_cpu_seconds == 0.27


def test_no_figures_is_an_error_not_zero_pages() -> None:
    with pytest.raises(RuntimeError, match="wrk printed no figures"):
        parse("unable to connect to 127.0.0.1:3003 Connection refused\n")
