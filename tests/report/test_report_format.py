"""One number formatter and one missing-value marker in the three reports; the figures."""

from __future__ import annotations

import base64
import io
import math
import re

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape
from matplotlib.image import imread

from ouroboros.report import MISSING, figures, number, write_compare
from ouroboros.report.format import percent, sort_key
from ouroboros.store import compare, open_store

OLD_MARKERS = ("n/a", "N/A", "nan", "None")


def _old_markers(html: str) -> list[str]:
    """Other missing-value markers in the text (figures left out: base64 may spell them)."""
    text = re.sub(r"data:image/png;base64,[^\"]+", "", html)
    return [m for m in OLD_MARKERS if re.search(rf"(?<![\w/]){re.escape(m)}(?![\w/])", text)]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, MISSING),
        (math.nan, MISSING),
        (math.inf, MISSING),
        (np.float64(-np.inf), MISSING),
        (0.123456, "0.123"),
        (np.float32(0.5), "0.500"),
        (12345, "12,345"),
        (np.int64(12345), "12,345"),
        (123456.7, "1.235e+05"),
        (True, "True"),
        ("<b>", "<b>"),
    ],
)
def test_number(value, text):
    assert number(value) == text


def test_the_marker_check_sees_old_markers():
    assert _old_markers("<td>n/a</td><td>nan</td>") == ["n/a", "nan"]
    assert _old_markers('Provenance <img src="data:image/png;base64,nanNone">') == []


def test_percent_and_sort_keys():
    assert percent(0.254) == "25%" and percent(None) == MISSING and percent(math.nan) == MISSING
    assert sort_key(None) == "" and sort_key(math.nan) == "" and sort_key(2) == "2.0"
    assert number(0.25, 1) == "0.2" and number(math.nan, 1) == MISSING


def test_the_collapse_report_marks_missing_values(collapse_result, tmp_path):
    html = collapse_result.to_html(tmp_path / "collapse.html", theory=False).read_text()
    assert f'<td class="num">{MISSING}</td>' in html  # mix:0.2 has no tail_share drift
    coverage = html.split("<code>coverage</code>")[-1].split("</tr>")[0]
    assert f'<td class="num">{MISSING}</td>' in coverage  # its ceiling
    assert "0.905 → 0.705 (from gen 1)" in coverage  # mean over seeds, by the one formatter
    assert _old_markers(html) == []
    assert html.count('src="data:image/png;base64,') == 3  # two metrics and the provenance
    assert "RuntimeError: &lt;b&gt;boom&lt;/b&gt;" in html and "<b>" not in html


def test_the_collapse_report_draws_the_theory_handed_in(collapse_result, tmp_path):
    curves = collapse_result.theory_curves()
    assert set(curves) == {"replace", "mix:0.2"} and len(curves["replace"]) == 3
    assert curves["replace"][0] >= curves["replace"][-1]  # categories lost stay lost
    html = collapse_result.to_html(tmp_path / "collapse.html").read_text()
    assert 'alt="reference model prediction"' in html and "Shumailov" in html
    assert "filters each synthetic sample" not in html  # no curate here
    assert str(escape(collapse_result.descriptions()["replace"])) in html


def test_the_comparison_report_marks_missing_values(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'runs.db'}")
    first = store.create_run("collapse", "first")
    store.log_metrics(
        first, [{"generation": g, "metric": "coverage", "value": 0.5 - 0.1 * g} for g in range(3)]
    )
    second = store.create_run("collapse", "second")
    store.log_metrics(second, [{"generation": 0, "metric": "tail", "value": 0.25}])
    html = compare.write_html(store, [first, second], tmp_path / "compare.html").read_text()
    coverage = html.split("<code>coverage</code>")[-1].split("</tr>")[0]
    assert "0.500 → 0.300" in coverage and f"{MISSING} → {MISSING}" in coverage
    assert "0.250 → 0.250" in html.split("<code>tail</code>")[-1]
    assert _old_markers(html) == []
    assert "<script" not in html and "default-src 'none'" in html


def test_write_compare_renders_plain_data(tmp_path):
    """The report needs no store: runs are read duck-typed, the tables are plain frames."""

    class Run:
        id, name, kind, status, error = "abcdef0123", "<i>run</i>", "bench", "finished", None
        created, finished, config = "2024-01-01", None, {"a": "<b>"}

    curves = pd.DataFrame(columns=["run_id", "metric", "strategy", "generation", "mean"])
    summary = pd.DataFrame({"metric": ["auc"], "strategy": ["(none)"], "abcdef0123:last": [0.5]})
    html = write_compare([Run()], curves, summary, tmp_path / "plain.html").read_text()
    assert "&lt;i&gt;run&lt;/i&gt;" in html and "&#34;&lt;b&gt;&#34;" in html
    assert f"{MISSING} → 0.500" in html  # no first value in the summary
    assert "None of these runs logged metrics by generation" in html


def _pixels(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return imread(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])), format="png")[..., :3]


def _near(image: np.ndarray, colour: str, alpha: float) -> int:
    """Pixels close to ``colour`` laid with ``alpha`` over white."""
    rgb = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    expected = 1 - alpha * (1 - rgb)
    return int((np.abs(image - expected).max(axis=2) < 0.04).sum())


def test_numeric_marginals_fill_both_histograms_on_shared_bins():
    edges = np.linspace(0, 10, 11).tolist()
    real = [0.2, 0.2, 0.2, 0.2, 0.2, 0, 0, 0, 0, 0]
    synthetic = [0, 0, 0, 0, 0, 0.2, 0.2, 0.2, 0.2, 0.2]
    image = _pixels(
        figures.numeric_marginal({"edges": edges, "real": real, "synthetic": synthetic})
    )
    # both are filled areas of their own colour, not one area and a thin outline
    assert _near(image, figures.REAL, 0.35) > 2000
    assert _near(image, figures.SYNTHETIC, 0.35) > 2000
    assert figures.numeric_marginal({}) is None


def test_one_palette_for_every_series():
    assert figures.colours(["a", "b"]) == {"a": figures.SERIES[0], "b": figures.SERIES[1]}
    many = figures.colours([str(i) for i in range(len(figures.SERIES) + 1)])
    assert many[str(len(figures.SERIES))] == figures.SERIES[0]
    assert len({figures.REAL, figures.SYNTHETIC, figures.HOLDOUT}) == 3
