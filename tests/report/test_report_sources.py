"""All rendering lives in ouroboros.report: no HTML in Python, no matplotlib or jinja2 elsewhere."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import ouroboros

SOURCE = Path(ouroboros.__file__).resolve().parent
REPORT = SOURCE / "report"
#: an HTML tag in a string: <html>, </td>, <div class=...>, <!DOCTYPE html>, <br/>
HTML_TAG = re.compile(
    r"<!doctype\s+html|</?(html|head|body|style|script|div|span|table|thead|tbody|tr|td|th"
    r"|img|ul|ol|li|h[1-6]|section|figure|figcaption|pre|code|nav|header|footer|main|meta"
    r"|details|summary|br|hr|b|i|a|p)(\s[^<>]*)?/?>",
    re.IGNORECASE,
)
#: packages the report may not import: it renders plain data
DATA_PACKAGES = ("metrics", "collapse", "store", "synthesizers", "runners", "sweep")


def _modules() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def html_strings(tree: ast.AST) -> list[str]:
    """String constants (f-string parts included) that hold an HTML tag."""
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and HTML_TAG.search(node.value)
    ]


def imported(tree: ast.AST) -> set[str]:
    """Every module named by an import statement, function-level imports included."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _parse(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_the_detectors_see_what_they_look_for():
    tree = ast.parse(
        "import matplotlib.pyplot as plt\nfrom jinja2 import Template\n"
        "def f():\n    from matplotlib.figure import Figure\n"
        '    return f"<td class=\'num\'>{x}</td>", "x < y and y > z", "<b>too many</b>"\n'
    )
    assert {"matplotlib.pyplot", "jinja2", "matplotlib.figure"} <= imported(tree)
    found = html_strings(tree)
    assert "</td>" in found and "<b>too many</b>" in found
    assert "x < y and y > z" not in found
    assert html_strings(ast.parse('"list[int] -> <module>", "a <= b >= c"')) == []


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SOURCE)))
def test_no_html_string_in_python(path):
    assert html_strings(_parse(path)) == [], "HTML belongs in ouroboros/report/templates"


def test_matplotlib_and_jinja_only_in_the_report():
    users: dict[str, set[str]] = {"matplotlib": set(), "jinja2": set()}
    for path in _modules():
        for name in imported(_parse(path)):
            root = name.split(".")[0]
            if root in users:
                users[root].add(str(path.relative_to(SOURCE)))
    assert users["matplotlib"] == {"report/figures.py"}
    assert users["jinja2"] == {"report/templating.py"}


def test_the_report_imports_no_data_package():
    for path in sorted(REPORT.rglob("*.py")):
        for name in imported(_parse(path)):
            parts = name.split(".")
            assert not (parts[0] == "ouroboros" and len(parts) > 1 and parts[1] in DATA_PACKAGES), (
                f"{path.name} imports {name}"
            )


def test_every_template_extends_the_base_with_autoescape():
    from ouroboros.report import templating

    env = templating.environment()
    assert env.autoescape is True
    reports = sorted(p.name for p in (REPORT / "templates").glob("*.html.j2"))
    assert reports == [
        "base.html.j2",
        "causal.html.j2",
        "collapse.html.j2",
        "compare.html.j2",
        "evaluation.html.j2",
        "pipeline.html.j2",
    ]
    # the pipeline's report is the evaluation report with the gate on top
    parents = {"pipeline.html.j2": "evaluation.html.j2"}
    for name in reports[1:]:
        text = (REPORT / "templates" / name).read_text(encoding="utf-8")
        assert text.startswith(f'{{% extends "{parents.get(name, "base.html.j2")}" %}}')
        assert "<style" not in text and "<script" not in text  # shared: base and report.css
