"""The HTML report: self-contained, escaped, the same numbers as the JSON export."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from ouroboros.errors import FileFormatError
from ouroboros.metrics import evaluate
from ouroboros.report import MISSING, render_evaluation
from ouroboros.testing.metrics import metric_tables

EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def evaluation():
    tables = metric_tables(n=300, seed=5)
    rename = {"group": EVIL, "score": 'sc"ore&<b>'}
    real, fresh, holdout = (tables[k].rename(columns=rename) for k in ("real", "fresh", "holdout"))
    return evaluate(real, fresh, holdout=holdout, target="label", sensitive=EVIL)


@pytest.fixture(scope="module")
def html(evaluation, tmp_path_factory):
    path = evaluation.to_html(tmp_path_factory.mktemp("report") / "report.html")
    return path.read_text(encoding="utf-8")


def test_strings_from_the_data_are_escaped(html):
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>" not in html and "sc&#34;ore&amp;&lt;b&gt;" in html
    assert html.count("<script") == 1


def test_the_report_is_self_contained(html):
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html and "@import" not in html
    assert html.count('src="data:image/png;base64,') >= 8
    script = re.search(r"<script>(.*?)</script>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in html
    assert "default-src 'none'" in html


def test_every_category_and_number_of_the_json_is_shown(evaluation, html):
    data = json.loads(evaluation.to_json())
    for row in data["scorecard"]:
        assert f'href="#{row["category"]}"' in html
        assert f"{row['score']:.2f}" in html
    for record in data["metrics"]:
        assert f"<code>{record['name']}</code>" in html
        assert f"{record['value']:.3f}" in html
    assert "at most 10,000 rows" in html  # the subsampling is stated


def test_render_rejects_what_is_not_an_evaluation():
    with pytest.raises(FileFormatError):
        render_evaluation({"something": 1})


def test_missing_values_show_the_one_marker(evaluation):
    data = evaluation.to_dict()
    record = data["metrics"][0]
    record["value"], record["ceiling"] = None, float("nan")
    data["scorecard"][0]["ceiling"] = None
    html = render_evaluation(data)
    row = html.split(f"<td><code>{record['name']}</code></td>")[1].split("</tr>")[0]
    assert row.count(f'data-sort="">{MISSING}</td>') == 2
    scorecard = html.split('id="scorecard"')[1].split("</tr>")[1]
    assert f'<td class="num" data-sort="">{MISSING}</td>' in scorecard
    text = re.sub(r"data:image/png;base64,[^\"]+", "", html)
    assert not re.search(r"\bn/a\b|\bnan\b|\bNone\b", text)
