"""HTML reports: the run page and the suite page hold what they must, stay within their size
budgets, escape what they show, and render in a real headless Chromium with no console error
and no request leaving the page (it must be self-contained).

Landings fly on the in-process `mil` rig (about a second each). The browser tests need
Debian's chromium (/usr/bin/chromium) and Playwright for Python (no `playwright install`: the
system browser is used); they are skipped, saying why, when either is missing.
"""

from __future__ import annotations

import copy
import html
import re
import struct
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from hil import icd, metrics
from hil.api import NO_FILES, Session, land
from hil.record import Record
from hil.report import REPORT_FILE, package_provenance, write_run_report, write_suite_report
from hil.report.figure import decimate, landing_figure
from hil.run import Run

pytestmark = pytest.mark.timeout(120)

RUN_PAGE_BUDGET = 500_000        # bytes, one run's report.html
SUITE_BUDGET = 3_000_000         # bytes, the suite page of the shipped acceptance suite
SUITE_LANDINGS = 30              # landings in the shipped acceptance suite
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
BROKEN_TD = {"td_enable": 0}     # the controller never declares touchdown: the landing FAILs

# The timing figures of a real-time run, as hil/flight.py's _timing writes them (a loopback run on
# the dev VM, trimmed), so the timing section is checked without flying 45 s in real time.
REALTIME_TIMING = {
    "mode": "realtime", "control_rate_hz": 50.0, "physics_rate_hz": 500.0,
    "scheduling": "SCHED_FIFO priority 50, pinned to CPU 1", "overrun_ms": 1.0, "grace_s": 0.5,
    "physics_steps_judged": 21003, "overruns": 3, "largest_overrun_us": 2139.8, "first_overrun_t": 0.544,
    "overrun_events": [], "frames_sent": 2112, "commands_applied": 2112, "repeated_commands": 12,
    "late_replies": 1,
    "lateness_us": {"n": 21003, "mean": 120.8, "p50": 0.063, "p99": 812.5, "max": 2139.8},
    "command_age_ms": {"n": 2111, "mean": 22.6, "p50": 22.0, "p99": 42.0, "max": 78.0},
    "link_round_trip_us": {"n": 2112, "mean": 1140.0, "p50": 695.2, "p99": 12597.4, "max": 55210.3},
    "device_step_time_us": {"n": 2100, "mean": 159.2, "p50": 93.0, "p99": 2016.0, "max": 6824.0},
    "device_timer_wait_us": {"n": 2099, "mean": 2122.4, "p50": 2029.0, "p99": 4410.0, "max": 25096.0},
    "device_hold_us": {"n": 2099, "mean": 17949.3, "p50": 17886.0, "p99": 28032.0, "max": 72988.0},
    "device_clock": {"drift_ppm": -1.62, "offset_us": 111.1, "residual_p99_us": 3141.9, "samples": 2112},
}


# --- reading a page back -------------------------------------------------------------------

class _Tables(HTMLParser):
    """Every table row of a page as the list of its cells' text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def table_rows(page: str) -> list[list[str]]:
    parser = _Tables()
    parser.feed(page)
    return parser.rows


def criteria_marks(page: str) -> dict[str, str]:
    """{criterion label: pass / FAIL / n/a} from the criteria table rows of a page."""
    return {row[0]: row[3] for row in table_rows(page)
            if len(row) == 5 and row[3] in ("pass", "FAIL", "n/a")}


def key_values(page: str) -> dict[str, str]:
    """{name: value} from the two-column tables of a page (provenance, timing counts)."""
    return {row[0]: row[1] for row in table_rows(page) if len(row) == 2}


def check_run_page(path: Path, result) -> str:
    """What every run page must hold: verdict, each criterion with its mark, the provenance."""
    assert path.is_file(), f"no {path}"
    size = path.stat().st_size
    assert size < RUN_PAGE_BUDGET, f"{path}: {size} bytes, budget {RUN_PAGE_BUDGET}"
    page = path.read_text(encoding="utf-8")
    assert f'<span class="verdict">{result.verdict}</span>' in page
    marks = criteria_marks(page)
    for row in result.checks:
        label, _ = metrics.label(row["metric"])
        expected = "n/a" if not row["applies"] else ("pass" if row["passed"] else "FAIL")
        assert marks.get(label) == expected, (label, marks)
    facts = key_values(page)
    assert facts["layout hash"] == f"0x{icd.LAYOUT_HASH:08X}"
    assert facts["scenario"] == result.run.scenario.name
    assert facts["seed"] == str(result.seed)
    assert facts["rig"].startswith(result.rig.name)
    assert facts["ICD version"] == str(icd.ICD_VERSION)
    assert facts["skycrane-hil"] and facts["git revision"]
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/", "")
    return page


# --- the landings ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def flown(tmp_path_factory):
    """A PASS and a FAIL landing, each with its run folder (report.html written by the run)."""
    base = tmp_path_factory.mktemp("runs")
    passed = land("nominal", rig="mil", out=base / "pass")
    failed = land("nominal", rig="mil", controller=BROKEN_TD, out=base / "fail")
    assert passed.verdict == "PASS", passed.describe()
    assert failed.verdict == "FAIL", failed.describe()
    return passed, failed


def test_a_passing_run_writes_its_page(flown):
    passed, _ = flown
    page = check_run_page(passed.out_dir / REPORT_FILE, passed)
    assert 'class="banner pass"' in page
    assert '<figure class="landing-plot"><svg' in page
    assert "Real-time timing" not in page    # a lockstep run has no timing figures


def test_a_failing_run_page_names_the_failed_criteria(flown):
    _, failed = flown
    page = check_run_page(failed.out_dir / REPORT_FILE, failed)
    assert 'class="banner fail"' in page
    failed_labels = [metrics.label(row["metric"])[0] for row in failed.failed_criteria()]
    assert "contact to touchdown declared" in failed_labels
    for line in failed.failure_lines():       # the banner lists each failed criterion
        assert f"<li>{html.escape(line)}</li>" in page
    assert key_values(page)["controller overrides"] == "td_enable = 0"


def test_an_error_run_page_shows_the_error(flown, tmp_path):
    """A run that stopped early: ERROR with the error's line, and the part that was flown."""
    passed, _ = flown
    stopped = copy.copy(passed)
    stopped.verdict, stopped.error = "ERROR", "link lost at t=9.98 s in powered descent: <no reply>"
    stopped.metrics = {name: float("nan") for name in passed.metrics}
    page = write_run_report(stopped, Record(passed.record.rows()[:500]), tmp_path).read_text()
    assert '<div class="banner error"><span class="verdict">ERROR</span>' in page
    assert "<li>link lost at t=9.98 s in powered descent: &lt;no reply&gt;</li>" in page
    assert "<svg" in page and "no separation or contact in this run" in page


def test_a_run_page_without_a_record_says_there_is_no_plot(flown, tmp_path):
    passed, _ = flown
    nothing = copy.copy(passed)
    nothing.out_dir = None
    page = write_run_report(nothing, None, tmp_path).read_text()
    assert "No plot" in page and "<svg" not in page


def test_a_real_time_run_page_shows_its_timing_figures(flown, tmp_path):
    passed, _ = flown
    realtime = copy.copy(passed)
    realtime.summary = {**passed.summary, "timing": REALTIME_TIMING}
    page = write_run_report(realtime, passed.record, tmp_path).read_text()
    distributions = {row[0]: row[1:] for row in table_rows(page) if len(row) == 7}
    assert distributions["command age at application"] == ["2111", "22.600", "22.000", "42.000", "78.000", "ms"]
    assert distributions["physics step lateness"][3] == "0.812"     # p99, in ms
    assert key_values(page)["physics overruns"] == "3"


def test_the_git_revision_fails_soft_without_git(monkeypatch, tmp_path):
    from hil.report import provenance as report_provenance
    monkeypatch.setenv("PATH", str(tmp_path))           # no git on the PATH
    report_provenance.git_revision.cache_clear()
    try:
        assert report_provenance.git_revision() == "unknown"
    finally:
        report_provenance.git_revision.cache_clear()


def test_decimation_keeps_the_extremes_and_the_ends():
    t = np.linspace(0.0, 80.0, 4000)
    y = np.sin(t)
    y[1234] = 7.0                                        # a one-cycle spike must survive
    td, yd = decimate(t, y, 300)
    assert len(td) <= 300
    assert td[0] == t[0] and td[-1] == t[-1]
    assert yd.max() == 7.0 and abs(yd.min() + 1.0) < 1e-3


def _entries(passed, failed) -> list[dict]:
    return [
        {"nodeid": "tests/test_acceptance.py::test_nominal", "outcome": "passed", "message": "",
         "duration_s": 1.2, "requirements": ["REQ-TD-01"], "results": [passed]},
        {"nodeid": "tests/test_acceptance.py::test_broken_detector", "outcome": "failed",
         "message": "AssertionError: <b>not</b> PASS & more", "duration_s": 1.1,
         "requirements": ["REQ-TD-02"], "results": [failed]},
        {"nodeid": "tests/test_acceptance.py::test_<no rig>", "outcome": "error",
         "message": "hil: error: rig file rigs/x.toml: no such file <script>alert(1)</script>",
         "duration_s": 0.01, "requirements": [], "results": []},
        {"nodeid": "tests/test_acceptance.py::test_on_stm32", "outcome": "skipped",
         "message": "needs qemu-system-arm", "duration_s": 0.0, "requirements": [], "results": []},
    ]


def test_a_suite_page_puts_failures_first_and_escapes(flown, tmp_path):
    passed, failed = flown
    path = write_suite_report(_entries(passed, failed), tmp_path / "suite.html",
                              {**package_provenance(), "rig": "mil <in-process>"})
    page = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 2 * SUITE_BUDGET / SUITE_LANDINGS   # two landings' share of the budget
    sections = {m.group(2): (m.start(), m.group(3)) for m in
                re.finditer(r'<details id="(test-\d+)" class="(\w+)"( open)?>', page)}
    assert set(sections) == {"failed", "error", "passed", "skipped"}
    assert sections["failed"][0] < sections["error"][0] < sections["passed"][0] < sections["skipped"][0]
    assert sections["failed"][1] and sections["error"][1]            # open
    assert not sections["passed"][1] and not sections["skipped"][1]  # collapsed
    # The summary table lists the failing test first too, and links each run folder relatively.
    assert page.index("test_broken_detector") < page.index("test_nominal")
    assert not re.search(r'href="(/|file:)', page)
    assert re.search(r'href="[^"]*pass/report\.html"', page)
    # Every string from the entries is escaped.
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "test_&lt;no rig&gt;" in page and "&lt;b&gt;not&lt;/b&gt; PASS &amp; more" in page
    assert key_values(page)["rig"] == "mil <in-process>"
    assert "No landing was flown." in page


def test_a_suite_landing_without_a_record_is_plotted_from_its_telemetry(flown, tmp_path):
    passed, _ = flown
    from_disk = copy.copy(passed)
    from_disk.record = None                       # the run folder still has telemetry.csv
    entry = {"nodeid": "t::disk", "outcome": "passed", "message": "", "duration_s": 1.0,
             "requirements": [], "results": [from_disk]}
    page = write_suite_report([entry], tmp_path / "suite.html", {}).read_text()
    assert '<figure class="landing-plot"><svg' in page


# Scenarios that all land in loopback, and one broken controller: the plots differ in shape.
SUITE_SCENARIOS = (("nominal", {}), ("curiosity", {}), ("gusty", {}), ("slope-15", {}),
                   ("heavy-rover", {}), ("nominal", BROKEN_TD))


def test_a_suite_of_thirty_landings_fits_the_budget(tmp_path):
    """A page with 30 landings, each with its own plot and criteria table, stays under 3 MB.
    Six distinct landings are flown (records kept, no files) and each is shown five times:
    every figure is rendered anew, so the page is as large as thirty distinct ones."""
    with Session("mil") as session:
        results = [session.fly(Run.create(name, controller=controller, outputs=NO_FILES))
                   for name, controller in SUITE_SCENARIOS]
    assert all(r.record is not None for r in results)
    entries = [{"nodeid": f"tests/test_acceptance.py::test_landing[{i}]",
                "outcome": "passed" if r.passed else "failed", "message": r.describe(), "duration_s": 1.0,
                "requirements": ["REQ-TD-01"], "results": [r]}
               for i, r in enumerate(results * (SUITE_LANDINGS // len(results)))]
    path = write_suite_report(entries, tmp_path / "suite.html", package_provenance())
    size = path.stat().st_size
    assert path.read_text().count('<figure class="landing-plot">') == SUITE_LANDINGS
    assert size < SUITE_BUDGET, f"{SUITE_LANDINGS} landings: {size} bytes, budget {SUITE_BUDGET}"


def test_the_inline_svg_plot_is_smaller_than_a_png(flown):
    """Why the plot is SVG: smaller than a base64 PNG at a readable 72 dpi, and sharp when zoomed."""
    passed, _ = flown
    svg = landing_figure(passed.record, passed.metrics, image="svg")
    png = landing_figure(passed.record, passed.metrics, image="png")
    assert len(svg) < len(png), (len(svg), len(png))
    assert len(svg) < 80_000


# --- in a real browser ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.is_file():
        pytest.skip(f"no {CHROMIUM} (Debian package chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Visit:
    """What a browser saw while loading a page."""

    page: object
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    other_requests: list[str] = field(default_factory=list)   # anything but the page itself

    @property
    def problems(self) -> list[str]:
        return self.console_errors + self.page_errors + self.failed_requests + self.other_requests


def visit(browser, path: Path) -> Visit:
    """Open `path` by file:// URL and collect console errors, uncaught exceptions, failed
    requests and every request other than the page itself; the page stays open for checks."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    url = path.resolve().as_uri()
    seen = Visit(page)
    page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.page_errors.append(str(e)))
    page.on("requestfailed", lambda r: seen.failed_requests.append(f"{r.url}: {r.failure}"))
    page.on("request", lambda r: None if r.url in (url,) or r.url.startswith("data:")
            else seen.other_requests.append(r.url))
    page.goto(url, wait_until="load")
    return seen


def screenshot(seen: Visit, path: Path) -> Path:
    """A full-page PNG; asserted to be a real picture of a long page, not a blank."""
    shot = path.with_suffix(".png")
    seen.page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 1000 and height >= 1200, (width, height)
    assert len(data) > 50_000, len(data)
    return shot


@pytest.mark.parametrize("which", ["pass", "fail"])
def test_a_run_page_renders_cleanly_in_chromium(chromium, flown, which, tmp_path):
    result = flown[0] if which == "pass" else flown[1]
    path = write_run_report(result, result.record, tmp_path)
    seen = visit(chromium, path)
    assert seen.problems == []
    verdict = seen.page.locator(".banner .verdict")
    assert verdict.is_visible() and verdict.inner_text() == result.verdict
    plot = seen.page.locator("figure.landing-plot svg")
    assert plot.is_visible() and plot.bounding_box()["width"] > 600
    screenshot(seen, path)
    seen.page.close()


def test_a_suite_page_renders_cleanly_in_chromium(chromium, flown, tmp_path):
    passed, failed = flown
    path = write_suite_report(_entries(passed, failed), tmp_path / "suite.html", package_provenance())
    seen = visit(chromium, path)
    assert seen.problems == []
    page = seen.page
    assert page.locator(".counts").is_visible()
    failed_section = page.locator("details.failed")
    assert failed_section.locator(".badge", has_text="FAIL").first.is_visible()
    assert failed_section.locator("figure.landing-plot svg").is_visible()         # open
    assert not page.locator("details.passed figure.landing-plot svg").is_visible()  # collapsed
    page.locator("details.passed > summary").click()
    assert page.locator("details.passed figure.landing-plot svg").is_visible()
    screenshot(seen, path)
    page.close()


def test_the_browser_checks_catch_a_broken_page(chromium, tmp_path):
    """The checks above are not vacuous: a console error, an uncaught exception, a missing file
    and a request off the page are each caught."""
    path = tmp_path / "broken.html"
    path.write_text('<!DOCTYPE html><html><body><p>broken</p><img src="missing.png">'
                    '<img src="http://127.0.0.1:9/beacon.png">'
                    '<script>console.error("deliberate console error"); no_such_function();</script>'
                    "</body></html>")
    seen = visit(chromium, path)
    seen.page.close()
    assert any("deliberate console error" in e for e in seen.console_errors)
    assert any("no_such_function" in e for e in seen.page_errors)
    assert any("missing.png" in r for r in seen.failed_requests)
    assert any("127.0.0.1:9" in r for r in seen.other_requests)
