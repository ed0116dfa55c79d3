"""The evaluation report, drawn from the JSON-ready dictionary of ``Evaluation.to_dict()``.

The HTML and the JSON export carry the same numbers. Tables sort with a small inline
script, the only one the page's Content-Security-Policy lets run.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from ouroboros import __version__
from ouroboros.errors import FileFormatError
from ouroboros.io import atomic_write_text
from ouroboros.report import figures, templating
from ouroboros.report.causal import graph_view
from ouroboros.report.sequence import sequence_figures

CATEGORY_TITLES = {
    "fidelity": "Fidelity",
    "detection": "Detection",
    "diversity": "Diversity",
    "privacy": "Privacy",
    "utility": "Utility",
    "fairness": "Fairness",
    "collapse": "Collapse indicators",
    "sequence": "Sequences",
}
CATEGORY_QUESTIONS = {
    "fidelity": "Do the columns and pairs of columns look like the real ones?",
    "detection": "Can a classifier tell synthetic rows from real rows?",
    "diversity": "Do the synthetic rows cover the real data, and stay within it?",
    "privacy": "Do the synthetic rows give away the training rows?",
    "utility": "Is a model trained on synthetic rows as good as one trained on real rows?",
    "fairness": "Are the groups of the sensitive column, and the gaps between them, kept?",
    "collapse": "Are tails, variance and variety kept, or lost as in model collapse?",
    "sequence": "Do lengths, gaps, memory and transitions of the sequences look like the real ones?",
}
_LEVEL_CLASS = ("good", "fair", "warn", "bad")


def _marginals(metrics: dict[str, dict]) -> list[dict]:
    """One card per column: its marginal overlay and similarity, worst first."""
    cards = []
    for name, key, draw in (
        ("ks_complement", "histograms", figures.numeric_marginal),
        ("tv_complement", "frequencies", figures.categorical_marginal),
    ):
        record = metrics.get(name)
        if record is None:
            continue
        drawings = record["details"].get(key, {})
        for row in record["rows"]:
            cards.append(
                {
                    "column": row["column"],
                    "measure": "1 − KS" if name == "ks_complement" else "1 − TV",
                    "value": row["value"],
                    "ceiling": row["ceiling"],
                    "image": draw(drawings.get(row["column"], {})),
                }
            )
    return sorted(cards, key=lambda c: c["value"] if c["value"] is not None else -1.0)


def _figures(category: str, metrics: dict[str, dict]) -> list[dict]:
    """Category-specific figures: (title, caption, image)."""
    out = []
    if category == "fidelity" and "correlation_similarity" in metrics:
        image = figures.correlation_difference(metrics["correlation_similarity"]["details"])
        if image:
            out.append(
                {
                    "title": "Correlation difference",
                    "caption": "Absolute difference of Spearman correlations, real against "
                    "synthetic, for every pair of numeric columns (darker: further apart).",
                    "image": image,
                }
            )
    if category == "privacy" and "dcr_ratio" in metrics:
        image = figures.dcr_histogram(metrics["dcr_ratio"]["details"].get("histogram", {}))
        if image:
            out.append(
                {
                    "title": "Distance to the closest training row",
                    "caption": "Synthetic rows beside holdout rows. Synthetic rows piled up "
                    "near zero, left of the holdout, mean copied or memorised training rows.",
                    "image": image,
                }
            )
    if category == "sequence":
        out += sequence_figures(metrics)
    if category == "diversity":
        for name, label in (("alpha_precision", "α"), ("beta_recall", "β")):
            details = metrics.get(name, {}).get("details", {})
            image = figures.curve(details.get("levels"), details.get("curve"), label)
            if image:
                out.append(
                    {
                        "title": f"{name.replace('_', ' ')} curve",
                        "caption": f"Share of rows kept at each level {label}; a perfect "
                        "generator follows the diagonal.",
                        "image": image,
                    }
                )
    return out


#: fairness metric -> (title, headers, the detail keys of its two value columns)
_FAIRNESS_TABLES = {
    "group_share_similarity": ("Group shares", ("real", "synthetic"), ("real", "synthetic")),
    "outcome_gap_ratio": (
        "Outcome per group: {outcome}",
        ("real", "synthetic"),
        ("real", "synthetic"),
    ),
    "utility_gap_ratio": (
        "Test error per group (boosting model)",
        ("trained on real", "trained on synthetic"),
        ("trtr_error", "tstr_error"),
    ),
}


def _fairness_tables(metrics: dict[str, dict]) -> list[dict]:
    """Per-group tables of the fairness metrics."""
    tables = []
    for name, (title, headers, keys) in _FAIRNESS_TABLES.items():
        details = metrics.get(name, {}).get("details")
        if details:
            columns = [details["groups"], *(details[k] for k in keys)]
            tables.append(
                {
                    "title": title.format(outcome=details.get("outcome", "")),
                    "headers": ["group", *headers],
                    "rows": list(zip(*columns, strict=True)),
                }
            )
    return tables


#: privacy attack metric -> its row label in the attacks table (Giomi et al. 2023)
_ATTACKS = {
    "singling_out_risk": "singling out",
    "linkability_risk": "linkability",
    "inference_risk": "attribute inference",
}


def _attack_tables(metrics: dict[str, dict]) -> list[dict]:
    """The attack risks beside their confidence intervals and the control rates."""
    rows = []
    for name, label in _ATTACKS.items():
        record = metrics.get(name)
        details = (record or {}).get("details") or {}
        if record is None or record.get("value") is None or "ci_low" not in details:
            continue
        rows.append(
            (
                label,
                record["value"],
                details["ci_low"],
                details["ci_high"],
                details["attack_rate"],
                details["control_rate"],
            )
        )
    if not rows:
        return []
    headers = ["attack", "risk", "95% low", "95% high", "success: training", "control"]
    return [{"title": "Attacks against a real control set", "headers": headers, "rows": rows}]


def _sections(data: dict) -> list[dict]:
    by_category: dict[str, list[dict]] = {}
    for record in data["metrics"]:
        by_category.setdefault(record["category"], []).append(record)
    scorecard = {row["category"]: row for row in data["scorecard"]}
    sections = []
    for category, title in CATEGORY_TITLES.items():
        records = by_category.get(category)
        if not records:
            continue
        metrics = {r["name"]: r for r in records}
        sections.append(
            {
                "id": category,
                "title": title,
                "question": CATEGORY_QUESTIONS[category],
                "score": scorecard.get(category),
                "metrics": records,
                "marginals": _marginals(metrics) if category == "fidelity" else [],
                "figures": _figures(category, metrics),
                "tables": _fairness_tables(metrics)
                if category == "fairness"
                else _attack_tables(metrics)
                if category == "privacy"
                else [],
            }
        )
    return sections


def _context(data: dict, title: str | None) -> dict:
    if not isinstance(data, dict) or "metrics" not in data or "scorecard" not in data:
        raise FileFormatError("not an ouroboros evaluation: 'metrics' or 'scorecard' is missing")
    scorecard = [
        {**row, "class": _LEVEL_CLASS[min(int(row.get("level", 3)), 3)]}
        for row in data["scorecard"]
    ]
    return {
        "title": title or "Synthetic data evaluation",
        "info": data.get("info", {}),
        "version": data.get("ouroboros_version") or __version__,
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "scorecard": scorecard,
        "sections": _sections(data),
        "skipped": data.get("skipped", {}),
        "graph": graph_view(data["info"]["causal_graph"])
        if data.get("info", {}).get("causal_graph")
        else None,
        "privacy_record": data.get("info", {}).get("privacy_record"),
    }


def render_evaluation(data: dict, title: str | None = None) -> str:
    """The report of an evaluation dictionary (``Evaluation.to_dict()``) as HTML text."""
    return templating.render("evaluation.html.j2", script="sortable.js", **_context(data, title))


def write_evaluation(data: dict, path: str | os.PathLike, title: str | None = None) -> Path:
    """Write the report to ``path`` atomically and return the path."""
    return atomic_write_text(path, render_evaluation(data, title))
