"""Open the HTML report in headless Chromium: no console error, no dialog, a screenshot.

Chromium is driven through the DevTools protocol over a pipe
(``--remote-debugging-pipe``: JSON messages separated by NUL bytes on file
descriptors 3 and 4), so no extra Python package is needed. The test is
skipped when no Chromium is installed (``make browser`` installs Debian's).
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ouroboros.metrics import evaluate
from ouroboros.store import compare, open_store

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "tests-output"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


class DevTools:
    """A minimal DevTools-protocol client over ``--remote-debugging-pipe``."""

    def __init__(self, executable: str, profile: Path):
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def wire_pipes():
            os.dup2(to_browser_read, 3)
            os.dup2(from_browser_write, 4)

        self.process = subprocess.Popen(
            [
                executable,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire_pipes,  # noqa: PLW1509 - the pipes must be fds 3 and 4
            close_fds=False,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def close(self) -> None:
        os.close(self._to_browser)
        os.close(self._from_browser)
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(left, 0))
            if not ready:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise ConnectionError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 60
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float = 60) -> dict:
        """Wait for an event, dismissing any dialog that would block the page meanwhile."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event.get("method") == method:
                    return event
                if event.get("method") == "Page.javascriptDialogOpening":
                    self.send("Page.handleJavaScriptDialog", {"accept": True}, session=session)
            seen = len(self.events)
            self.events.append(self._read_message(deadline))


def _problems(events: list[dict]) -> list[str]:
    """Console errors and warnings, uncaught exceptions, log errors, dialogs."""
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning"):
            found.append(f"console.{params['type']}: {params.get('args')}")
        elif method == "Runtime.exceptionThrown":
            found.append(f"exception: {params.get('exceptionDetails')}")
        elif method == "Log.entryAdded" and params["entry"].get("level") in ("error", "warning"):
            found.append(f"log: {params['entry'].get('text')}")
        elif method == "Page.javascriptDialogOpening":
            found.append(f"dialog: {params.get('message')}")
    return found


def _open(report: Path, tmp_path: Path, screenshot: Path) -> tuple[dict, list[str]]:
    browser = DevTools(CHROMIUM, tmp_path / "profile")
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            browser.send(f"{domain}.enable", session=session)
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        browser.send("Page.navigate", {"url": report.resolve().as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired", session)
        checks = browser.send(
            "Runtime.evaluate",
            {
                "expression": """JSON.stringify({
                    ready: document.body.getAttribute('data-ready'),
                    text: document.body.innerText,
                    images: Array.from(document.images).map(i => i.complete && i.naturalWidth > 0),
                    injected: document.querySelectorAll('script').length,
                    sorted: (function () {
                        var head = document.querySelector('table.sortable thead th:nth-child(3)');
                        if (!head) { return null; }
                        head.click();
                        return head.getAttribute('aria-sort');
                    })()
                })""",
                "returnByValue": True,
            },
            session=session,
        )
        metrics = browser.send("Page.getLayoutMetrics", session=session)
        size = metrics["cssContentSize"]
        shot = browser.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {
                    "x": 0,
                    "y": 0,
                    "width": size["width"],
                    "height": min(size["height"], 6000),
                    "scale": 1,
                },
            },
            session=session,
        )
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        # let late console messages arrive
        browser.send("Runtime.evaluate", {"expression": "1"}, session=session)
        value = checks["result"].get("value")  # absent when the checks threw (broken page)
        return (json.loads(value) if value else {}), _problems(browser.events)
    finally:
        browser.close()


def _tables(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def draw(n, scale):
        group = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])
        x = rng.normal(0, scale, n) + (group == "b")
        return pd.DataFrame(
            {
                "<script>alert(1)</script>": group,
                "x": x,
                "y": x * 0.5 + rng.normal(0, 1, n),
                "count": rng.poisson(3, n),
                "label": np.where(x + rng.normal(0, 1, n) > 0.5, "yes", "no"),
            }
        )

    return draw(800, 1.0), draw(800, 0.7), draw(800, 1.0)


def test_report_opens_without_console_errors(tmp_path):
    real, synthetic, holdout = _tables()
    evaluation = evaluate(
        real, synthetic, holdout=holdout, target="label", sensitive="<script>alert(1)</script>"
    )
    report = evaluation.to_html(tmp_path / "report.html")
    checks, problems = _open(report, tmp_path, SCREENSHOTS / "report.png")
    assert problems == []
    assert checks["ready"] == "1", "the report's script did not run to its end"
    assert all(checks["images"]) and len(checks["images"]) >= 5
    assert checks["injected"] == 1, "only the report's own script may be in the page"
    assert "<script>alert(1)</script>" in checks["text"], "the column name must show as text"
    assert checks["sorted"] == "ascending"
    assert (SCREENSHOTS / "report.png").stat().st_size > 10_000


def test_lab_report_opens_without_console_errors(collapse_result, tmp_path):
    report = collapse_result.to_html(tmp_path / "collapse.html")
    checks, problems = _open(report, tmp_path, SCREENSHOTS / "collapse.png")
    assert problems == []
    assert checks["injected"] == 0 and checks["ready"] is None and checks["sorted"] is None
    assert all(checks["images"]) and len(checks["images"]) == 4  # 2 metrics, provenance, theory
    assert "RuntimeError: <b>boom</b>" in checks["text"], "the error must show as text"


def test_comparison_report_opens_without_console_errors(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'runs.db'}")
    ids = []
    for name in ("<script>alert(1)</script>", "second"):
        ids.append(store.create_run("collapse", name, {"note": "<img src=x onerror=alert(1)>"}))
        rows = [{"strategy": "replace", "generation": g, "metric": "m", "value": g} for g in (0, 1)]
        store.log_metrics(ids[-1], rows)
    report = compare.write_html(store, ids, tmp_path / "compare.html")
    checks, problems = _open(report, tmp_path, SCREENSHOTS / "compare.png")
    assert problems == []
    assert checks["injected"] == 0
    assert all(checks["images"]) and len(checks["images"]) == 1
    assert "<script>alert(1)</script>" in checks["text"]
    assert "<img src=x onerror=alert(1)>" in checks["text"]


def test_console_errors_are_caught(tmp_path):
    """The harness itself notices a failing script and a dialog."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><body><script>console.error('boom'); alert('x');"
        "undefinedFunction();</script></body></html>"
    )
    _, problems = _open(page, tmp_path, tmp_path / "broken.png")
    assert any("boom" in p for p in problems)
    assert any("undefinedFunction" in p for p in problems)
