"""`medsys bench middleware`: what the middleware costs, and how fast an open breaker
answers. Figures, not pass/fail tests; run it on a quiet machine."""

from __future__ import annotations

import contextlib
import os
import random
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx

from medsys.chaos import bare_proxy, cpu_use, wrk_load
from medsys.chaos.http_load import percentile, spread, timed_statuses
from medsys.chaos.lab import Lab
from medsys.core.demo_logins import demo_password
from medsys.core.keys import operator_token
from medsys.core.tokens import Actor, Role, Service
from medsys.launcher.supervisor import SupervisorError

PATIENT = "11111111-1"


def _ms(values: list[float], share: float) -> str:
    return f"{percentile(values, share) * 1000:.1f} ms"


def middleware_figures(lab: Lab, requests: int, runs: int, say: Callable[[str], None]) -> None:
    """The same patient's history five ways, interleaved in blocks of ten so all five
    see the same machine: the clinical API directly; through a bare Python hop
    (``bare_proxy``: uvicorn and aiohttp forwarding, nothing else), the floor any
    middleware in Python pays here; through the middleware as the portal's page asks for
    it (consultations only: clinical alone behind it); through the middleware joined with
    admin's demographics (the seed's shape: both services behind it); and the portal's
    page (portal -> middleware -> clinical). ``runs`` rounds, each printed, then min /
    median / max of their medians."""
    token = operator_token(lab.settings, Role.PATIENT, PATIENT, audience=Service.MIDDLEWARE)
    patient = {"Authorization": f"Bearer {token}"}
    via = f"http://127.0.0.1:{lab.settings.port('middleware')}/api/medical-history/{PATIENT}"
    clinical = f"http://127.0.0.1:{lab.settings.port('app1')}"
    history = f"/api/patients/{PATIENT}/history"
    portal = f"http://127.0.0.1:{lab.settings.port('app3')}"
    consultations = via + "?demographics=false"
    paths = ("direct", "floor", "consultations", "joined", "portal")
    medians: dict[str, list[float]] = {name: [] for name in paths}
    overheads: dict[str, list[float]] = {name: [] for name in ("floor", "consultations", "joined")}
    with (
        _bare_hop(clinical) as floor,
        httpx.Client(timeout=30) as client,
        httpx.Client(base_url=portal, timeout=30) as page,
    ):
        # Breakers left open by an earlier fault would answer 503 in a millisecond.
        deadline = time.monotonic() + 30
        while client.get(via, headers=patient).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the history never answered 200 through the middleware")
            time.sleep(0.2)
        password = demo_password(lab.secrets.demo_seed, PATIENT)
        if not _form_login(page, "/login", {"rut": PATIENT, "password": password}):
            raise RuntimeError("the demo patient could not log in to the portal")
        relayed = _relayed(lab)
        for url, headers in (
            (via, patient),
            (consultations, patient),
            (clinical + history, relayed),
            (floor + history, relayed),
        ):
            timed_statuses(client, url, headers, 20)  # warm pools and caches
        timed_statuses(page, "/history", {}, 20)
        for run in range(1, runs + 1):
            answers: dict[str, list[tuple[int, float]]] = {name: [] for name in paths}
            for _ in range(max(1, requests // 10)):
                # A relayed token lives a minute: a fresh one per block, as the middleware.
                relayed = _relayed(lab)
                answers["direct"] += timed_statuses(client, clinical + history, relayed, 10)
                answers["floor"] += timed_statuses(client, floor + history, relayed, 10)
                answers["consultations"] += timed_statuses(client, consultations, patient, 10)
                answers["joined"] += timed_statuses(client, via, patient, 10)
                answers["portal"] += timed_statuses(page, "/history", {}, 10)
            served = {
                name: [seconds for status, seconds in timed if status == 200]
                for name, timed in answers.items()
            }
            for name, values in served.items():
                medians[name].append(percentile(values, 0.5))
            for name, values in overheads.items():
                values.append(medians[name][-1] / medians["direct"][-1] - 1)
            say(
                f"run {run}: clinical directly {_p50_p99(served['direct'])}; a bare hop "
                f"{_p50_p99(served['floor'])}; through the middleware, consultations only "
                f"{_p50_p99(served['consultations'])}, joined with demographics "
                f"{_p50_p99(served['joined'])}; portal page {_p50_p99(served['portal'])} "
                f"({sum(map(len, served.values()))}/{sum(map(len, answers.values()))} "
                f"answered 200); overhead {overheads['consultations'][-1] * 100:+.0f} % "
                f"(a bare hop {overheads['floor'][-1] * 100:+.0f} %, joined "
                f"{overheads['joined'][-1] * 100:+.0f} %)"
            )
    p50 = {name: spread(values, "ms", 1000) for name, values in medians.items()}
    say(f"clinical history directly, p50 of each run: {p50['direct']}")
    say(f"through a bare Python hop (uvicorn + aiohttp, nothing else): {p50['floor']}")
    say(f"through the middleware, consultations only (the portal's call): {p50['consultations']}")
    say(f"through the middleware, joined with admin's demographics: {p50['joined']}")
    say(f"the portal's history page (portal -> middleware -> clinical): {p50['portal']}")
    say(
        "middleware overhead at p50, the portal's call: "
        f"{spread(overheads['consultations'], '%', 100)} (target: median <= +30 %); a bare "
        f"Python hop: {spread(overheads['floor'], '%', 100)}; joined with demographics (two "
        f"services behind one call): {spread(overheads['joined'], '%', 100)}"
    )
    say(_fail_fast(lab, via, patient, requests))


@contextlib.contextmanager
def _bare_hop(upstream: str) -> Iterator[str]:
    """``bare_proxy`` in a uvicorn of its own on a free port, forwarding to ``upstream``;
    its base URL while it runs."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "medsys.chaos.bare_proxy:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    environment = {**os.environ, bare_proxy.UPSTREAM: upstream}
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the bare proxy for the floor measurement did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _p50_p99(values: list[float]) -> str:
    return f"p50 {_ms(values, 0.5)} p99 {_ms(values, 0.99)}"


def _relayed(lab: Lab) -> dict[str, str]:
    """What the middleware sends clinical when it acts for the patient."""
    person = Actor(PATIENT, Role.PATIENT, Service.PORTAL)
    token = operator_token(
        lab.settings, Role.SERVICE, "middleware", audience=Service.CLINICAL, acting_for=person
    )
    return {"Authorization": f"Bearer {token}"}


def _fail_fast(lab: Lab, url: str, headers: dict[str, str], requests: int) -> str:
    lab.stop("app1")
    lab.stop("app1-replica")
    try:
        with httpx.Client(timeout=30) as client:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # until both breakers are open
                answer = client.get(url, headers=headers)
                if answer.status_code == 503 and "circuit open" in answer.text:
                    break
            answers = timed_statuses(client, url, headers, requests)
    finally:
        lab.start("app1")
        lab.start("app1-replica")
    fast = [seconds for status, seconds in answers if status == 503]
    return (
        f"breaker open (both clinical instances stopped): {len(fast)}/{len(answers)} "
        f"answered 503, p50 {_ms(fast, 0.5)}, p99 {_ms(fast, 0.99)} (target p99 <= 5 ms)"
    )


class Crowd:
    """People at once, each with their own logged-in session: they log in one at a time
    (argon2 logins at the same moment are a burst of their own, and logins in flight count
    toward the lockout of their account and address), then the clock starts for all, and
    each goes round its pages until it stops, timing every page it loads."""

    def __init__(self, users: int, seconds: float) -> None:
        import threading

        self.users, self.seconds = users, seconds
        self.latencies: dict[str, list[float]] = {}
        self.failures = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._one_login = threading.Lock()
        self._everyone_in = threading.Barrier(users)
        self._stop = 0.0

    def page(self, client: httpx.Client, kind: str, path: str, proof: str) -> str | None:
        started = time.perf_counter()
        try:
            answer = client.get(path)
        except httpx.TransportError:
            # A kept-alive connection the server closed as we sent on it; a browser
            # resends such a GET by itself, this client counts it.
            with self._lock:
                self.dropped += 1
            return None
        elapsed = time.perf_counter() - started
        with self._lock:
            if answer.status_code == 200 and proof in answer.text:
                self.latencies.setdefault(kind, []).append(elapsed)
            else:
                self.failures += 1
        return answer.text

    def going(self) -> bool:
        return time.monotonic() < self._stop

    def run(
        self,
        base_url: Callable[[int], str],
        log_in: Callable[[httpx.Client, int], bool],
        rounds: Callable[[httpx.Client, int], None],
        at_start: Callable[[], None] = lambda: None,
    ) -> None:
        """``at_start``: called once, when the clock starts (after every login)."""
        import threading

        def person(number: int) -> None:
            with httpx.Client(base_url=base_url(number), timeout=30) as client:
                with self._one_login:
                    logged = log_in(client, number)
                if self._everyone_in.wait() == 0:
                    at_start()
                    self._stop = time.monotonic() + self.seconds
                self._everyone_in.wait()
                if not logged:
                    with self._lock:
                        self.failures += 1
                    return
                rounds(client, number)

        threads = [threading.Thread(target=person, args=(n,)) for n in range(self.users)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def every(self) -> list[float]:
        return [value for values in self.latencies.values() for value in values]


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _form_login(client: httpx.Client, page: str, fields: dict[str, str]) -> bool:
    token = _CSRF.search(client.get(page).text)
    form = {"csrf_token": token.group(1) if token else "", **fields}
    return client.post(page, data=form).status_code in (302, 303)  # a redirect: logged in


# The demo patients the portal benchmarks log in as, in turn.
PORTAL_PATIENTS = ("11111111-1", "22222222-2")


def _portal_login(client: httpx.Client, seed: str, number: int) -> bool:
    rut = PORTAL_PATIENTS[number % len(PORTAL_PATIENTS)]
    return _form_login(client, "/login", {"rut": rut, "password": demo_password(seed, rut)})


def portal_figures(
    lab: Lab,
    users: int,
    seconds: float,
    think: float,
    say: Callable[[str], None],
    *,
    in_step: bool = False,
    generator: str = "python",
    runs: int = 1,
) -> None:
    """``users`` patients, each logged in with its own session, load the history page
    for ``seconds``, pausing about ``think`` seconds between pages (0: back to back, a
    saturation test); latency of every page load. ``generator`` "wrk": a saturation test
    loads its pages from wrk (``wrk_load``), which leaves the machine to the system.
    ``runs`` in a row, each printed, then min / median / max of their figures.

    Patients read at their own pace: each starts at a random moment within the first
    pause and then pauses 0.5-1.5 times ``think``, so pages arrive as they would from
    people. ``in_step``: all start at once and pause exactly ``think``, so every page of a
    round arrives in the same instant, the worst burst (its p99 is the time the machine
    needs to serve them all)."""
    figures: list[tuple[float, float, float]] = []
    for _ in range(runs):
        if think == 0 and generator == "wrk":
            figures.append(_portal_saturation_by_wrk(lab, users, seconds, say))
        else:
            figures.append(_portal_by_crowd(lab, users, seconds, think, say, in_step=in_step))
    if runs > 1:
        rates, p50s, p99s = zip(*figures, strict=True)
        say(
            f"{runs} runs: {spread(list(rates), 'pages/s')}; p50 {spread(list(p50s), 'ms', 1000)}"
            f"; p99 {spread(list(p99s), 'ms', 1000)}"
        )


def _portal_by_crowd(
    lab: Lab,
    users: int,
    seconds: float,
    think: float,
    say: Callable[[str], None],
    *,
    in_step: bool,
) -> tuple[float, float, float]:
    """One run with Python threads as the patients: (pages/s, p50, p99 in seconds)."""
    base = f"http://127.0.0.1:{lab.settings.port('app3')}"
    seed = lab.secrets.demo_seed
    crowd = Crowd(users, seconds)

    def log_in(client: httpx.Client, number: int) -> bool:
        return _portal_login(client, seed, number)

    def rounds(client: httpx.Client, number: int) -> None:
        pace = random.Random(number)
        if not in_step:
            time.sleep(pace.uniform(0, think))
        while crowd.going():
            crowd.page(client, "history", "/history", "Diagnósticos")
            time.sleep(think if in_step else pace.uniform(0.5 * think, 1.5 * think))

    services = _supervised_pids(lab)
    readings: list[dict[str, dict[int, int]]] = []

    def take_reading() -> None:
        readings.append(cpu_use.trees(cpu_use.read_processes(), services))

    crowd.run(lambda _: base, log_in, rounds, at_start=take_reading)
    take_reading()
    latencies = crowd.every()
    pages = len(latencies)
    pacing = "all in step" if in_step else "each at its own pace"
    say(
        f"portal /history, {users} concurrent patients ({pacing}), ~{think:.1f} s between "
        "pages, for "
        f"{seconds:.0f} s: {pages} pages, "
        f"{pages / seconds:.0f}/s, p50 {_ms(latencies, 0.5)}, p99 {_ms(latencies, 0.99)} "
        f"(target p99 <= 200 ms; seed SLA 3 s); failed {crowd.failures}; "
        f"connections closed under a request {crowd.dropped}"
    )
    if services:
        used = cpu_use.ms_per_page(readings[0], readings[1], pages)
        say(cpu_use.summary(used, os.cpu_count() or 1))
    return pages / seconds, percentile(latencies, 0.5), percentile(latencies, 0.99)


def _portal_saturation_by_wrk(
    lab: Lab, users: int, seconds: float, say: Callable[[str], None]
) -> tuple[float, float, float]:
    """The saturation test with wrk's connections, one per patient's session; the
    sessions are opened as the Python crowd opens them (one login at a time)."""
    base = f"http://127.0.0.1:{lab.settings.port('app3')}"
    seed = lab.secrets.demo_seed
    cookies = []
    for number in range(users):
        with httpx.Client(base_url=base, timeout=30) as client:
            if not _portal_login(client, seed, number):
                raise RuntimeError(f"demo patient number {number} could not log in")
            cookies.append("; ".join(f"{name}={value}" for name, value in client.cookies.items()))
    services = _supervised_pids(lab)
    before = cpu_use.trees(cpu_use.read_processes(), services)
    load = wrk_load.saturate(
        base + "/history", cookies, "Diagnósticos", connections=users, seconds=seconds
    )
    after = cpu_use.trees(cpu_use.read_processes(), services)
    say(
        f"portal /history, {users} concurrent patients back to back (wrk), for "
        f"{load.seconds:.0f} s: {load.pages} pages, {load.per_second:.0f}/s, p50 "
        f"{load.p50_seconds * 1000:.1f} ms, p99 {load.p99_seconds * 1000:.1f} ms (target at "
        f"saturation: >= 150 pages/s, p99 <= 500 ms); wrong answers {load.wrong}, socket "
        f"errors {load.socket_errors}, timeouts {load.timeouts}; the load generator's own "
        f"CPU {1000 * load.generator_cpu_seconds / max(1, load.pages):.2f} ms a page"
    )
    if services:
        say(cpu_use.summary(cpu_use.ms_per_page(before, after, load.pages), os.cpu_count() or 1))
    if load.wrong or load.socket_errors or load.timeouts:
        say("some pages failed: the figures above count them as pages served")
    return load.per_second, load.p50_seconds, load.p99_seconds


def _supervised_pids(lab: Lab) -> dict[str, int]:
    """Each running service's pid, when supervisord on this machine runs them (else
    none: the CPU is not ours to read)."""
    try:
        running = lab.cluster.supervisor.all_info()
    except (OSError, SupervisorError):
        return {}
    return {name: info.pid for name, info in running.items() if info.pid}


STAFF_ACCOUNTS = ["dra.soto", "dr.rojas", "dra.munoz", "dr.fuentes", "enf.silva"]
CHARTS = ["11111111-1", "22222222-2", "33333333-3"]
_CONSULTATION = re.compile(r'href="(/clinica/consultas/\d+)"')


def staff_figures(
    lab: Lab, users: int, seconds: float, think: float, say: Callable[[str], None]
) -> None:
    """``users`` doctors and nurses, each with their own workspace session on one of the
    two clinical instances, go round their agenda, a patient's chart and a consultation
    for ``seconds``, reading each page about ``think`` seconds; latency of every page."""
    urls = [f"http://127.0.0.1:{lab.settings.port(name)}" for name in ("app1", "app1-replica")]
    seed = lab.secrets.demo_seed
    crowd = Crowd(users, seconds)

    def log_in(client: httpx.Client, number: int) -> bool:
        account = STAFF_ACCOUNTS[number % len(STAFF_ACCOUNTS)]
        fields = {"usuario": account, "clave": demo_password(seed, account)}
        return _form_login(client, "/clinica/ingresar", fields)

    def rounds(client: httpx.Client, number: int) -> None:
        pace = random.Random(number)

        def read() -> None:
            time.sleep(pace.uniform(0.5 * think, 1.5 * think))

        time.sleep(pace.uniform(0, think))
        while crowd.going():
            crowd.page(client, "agenda", "/clinica/agenda", "agenda")
            read()
            chart = crowd.page(
                client, "chart", f"/clinica/pacientes/{pace.choice(CHARTS)}", "Ficha clínica"
            )
            read()
            found = _CONSULTATION.search(chart or "")
            if found:
                crowd.page(client, "consultation", found.group(1), "Diagnósticos (CIE-10)")
                read()

    crowd.run(lambda number: urls[number % 2], log_in, rounds)
    every = crowd.every()
    parts = ", ".join(
        f"{kind} p50 {_ms(values, 0.5)} p99 {_ms(values, 0.99)}"
        for kind, values in crowd.latencies.items()
    )
    say(
        f"clinical workspace, {users} staff (agenda, chart, consultation; ~{think:.1f} s "
        f"reading each page), {seconds:.0f} s: {len(every)} pages, "
        f"{len(every) / seconds:.0f}/s, all pages p50 {_ms(every, 0.5)}, p99 {_ms(every, 0.99)} "
        f"(target p99 <= 200 ms); {parts}; failed {crowd.failures}"
    )


OFFICE_ACCOUNTS = ["adm.vera", "cont.lagos"]


def office_figures(
    lab: Lab, users: int, seconds: float, think: float, say: Callable[[str], None]
) -> None:
    """``users`` clerks and accountants, each with their own office session through nginx,
    go round a patient search, a patient's page and (accountants) the reports for
    ``seconds``, reading each page about ``think`` seconds; latency of every page."""
    base = f"http://127.0.0.1:{lab.settings.port('nginx')}"
    seed = lab.secrets.demo_seed
    crowd = Crowd(users, seconds)

    def log_in(client: httpx.Client, number: int) -> bool:
        account = OFFICE_ACCOUNTS[number % len(OFFICE_ACCOUNTS)]
        fields = {"usuario": account, "clave": demo_password(seed, account)}
        return _form_login(client, "/oficina/ingresar", fields)

    def rounds(client: httpx.Client, number: int) -> None:
        pace = random.Random(number)
        accountant = OFFICE_ACCOUNTS[number % len(OFFICE_ACCOUNTS)] == "cont.lagos"

        def read() -> None:
            time.sleep(pace.uniform(0.5 * think, 1.5 * think))

        time.sleep(pace.uniform(0, think))
        while crowd.going():
            crowd.page(client, "search", "/oficina/pacientes?q=p%C3%A9rez", "Juan Pérez")
            read()
            rut = pace.choice(CHARTS)
            crowd.page(client, "patient", f"/oficina/pacientes/{rut}", "Saldo")
            read()
            if accountant:
                crowd.page(client, "reports", "/oficina/informes", "Cierre de caja")
                read()

    crowd.run(lambda _: base, log_in, rounds)
    every = crowd.every()
    parts = ", ".join(
        f"{kind} p50 {_ms(values, 0.5)} p99 {_ms(values, 0.99)}"
        for kind, values in crowd.latencies.items()
    )
    say(
        f"front office (admin via nginx), {users} clerks and accountants (search, patient, "
        f"reports; ~{think:.1f} s reading each page), {seconds:.0f} s: {len(every)} pages, "
        f"{len(every) / seconds:.0f}/s, all pages p50 {_ms(every, 0.5)}, p99 {_ms(every, 0.99)} "
        f"(target p99 <= 200 ms); {parts}; failed {crowd.failures}"
    )
