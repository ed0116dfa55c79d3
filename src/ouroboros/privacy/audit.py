"""A model's privacy record in the form ``ouro evaluate`` and the report show it.

Two records exist: the marginal generators' (``aim``, ``mst``: every mechanism composed
in zCDP, Bun & Steinke 2016, converted to (epsilon, delta) as Canonne, Kamath & Steinke
2020) and DP-SGD's (the neural generators with ``dp=True``: Opacus' Rényi accountant,
Mironov 2017, over the Poisson-sampled steps, composed with the schema's and the row
count's Gaussian mechanisms). Both become the same summary: the guarantee, the
accountant and its parameters, the split of the budget between schema and model, and
every spend. Reading the record spends nothing: it is post-processing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NOT_PRIVATE = "none: this model was fitted without differential privacy"
SPEND_HEADERS = ["part", "what", "mechanism", "zCDP rho", "noise"]
TOTAL_HEADERS = ["part", "mechanism", "spends", "zCDP rho"]


def _num(value: Any) -> str:
    return "—" if value is None else f"{float(value):.4g}"


def _sources(sources: Mapping[str, str]) -> str:
    """``{column: public|measured}`` as 'public: a, b; measured: c'."""
    if not sources:
        return "public (given by the user)"
    by_kind: dict[str, list[str]] = {}
    for column, kind in sources.items():
        by_kind.setdefault(str(kind), []).append(str(column))
    return "; ".join(f"{kind}: {', '.join(columns)}" for kind, columns in sorted(by_kind.items()))


def _split(budget: Mapping[str, Any], model_note: str | None = None) -> str:
    split = budget.get("split", {})
    schema, model = split.get("schema", {}), split.get("model", {})
    text = (
        f"schema: share {_num(budget.get('schema_share', 0.0))}, rho "
        f"{_num(schema.get('rho'))} spent of {_num(schema.get('allotted_rho'))}; "
    )
    if model_note is not None:
        return text + f"model: {model_note}"
    return text + f"model: rho {_num(model.get('rho'))} spent of {_num(model.get('allotted_rho'))}"


def _spend_rows(spends: list[Mapping[str, Any]]) -> list[list[str]]:
    rows = []
    for spend in spends:
        params = spend.get("params", {})
        noise = params.get("sigma")
        noise_text = f"sigma {_num(noise)}" if noise is not None else ""
        if "epsilon" in params:
            noise_text = f"epsilon {_num(params['epsilon'])}"
        if spend.get("delta"):
            noise_text += f", delta {_num(spend['delta'])}"
        rows.append(
            [spend["part"], spend["what"], spend["mechanism"], _num(spend["rho"]), noise_text]
        )
    return rows


def _zcdp(record: Mapping[str, Any]) -> tuple[list[list[str]], list[list[str]]]:
    rows = [
        ["accountant", record["accountant"]],
        [
            "accountant parameters",
            f"rho {_num(record['rho'])} in all, {_num(record['rho_spent'])} spent; conversion "
            f"delta {_num(record['conversion_delta'])}, threshold delta "
            f"{_num(record['threshold_delta'])}",
        ],
        ["schema", _sources(record.get("schema_sources", {}))],
        ["budget split", _split(record)],
    ]
    return rows, _spend_rows(record.get("spends", []))


def _dpsgd(record: Mapping[str, Any]) -> tuple[list[list[str]], list[list[str]]]:
    schema = record.get("schema", {})
    budget = schema.get("budget", {})
    steps = f"{record['steps']} steps of {record['steps_planned']} planned"
    rows = [
        ["accountant", f"{record['accountant']} (Rényi DP, {record.get('library', 'opacus')})"],
        [
            "accountant parameters",
            f"noise multiplier {_num(record['noise_multiplier'])}, sample rate "
            f"{_num(record['sample_rate'])} ({record.get('sampling', 'Poisson')}), {steps}, "
            f"max grad norm {_num(record['max_grad_norm'])}, at delta {_num(record['delta'])}",
        ],
        ["private parts", record.get("private_parts", "")],
        ["schema", _sources(schema.get("sources", {}))],
    ]
    if budget:
        note = "the rest of rho, composed with the SGD steps in the Rényi accountant"
        rows.append(["budget split", _split(budget, note)])
    spends = _spend_rows(budget.get("spends", []))
    for m in record.get("measurements", []):
        if not str(m["what"]).startswith("schema"):  # the schema's spends are listed above
            spends.append(["model", m["what"], "Gaussian mechanism", "—", _noise(m)])
    spends.append(["model", "network weights", "DP-SGD (clipped per-row gradients)", "—",
                   f"noise multiplier {_num(record['noise_multiplier'])}, {steps}"])  # fmt: skip
    return rows, spends


def _noise(measurement: Mapping[str, Any]) -> str:
    return f"noise multiplier {_num(measurement['noise_multiplier'])}"


def _totals(spends: list[list[str]]) -> list[list[str]]:
    """The spends grouped by part and mechanism: how many, and their rho added up."""
    groups: dict[tuple[str, str], list[float]] = {}
    for part, _, mechanism, rho, _ in spends:
        groups.setdefault((part, mechanism), []).append(float("nan") if rho == "—" else float(rho))
    return [
        [part, mechanism, str(len(rhos)), "—" if rhos[0] != rhos[0] else _num(sum(rhos))]
        for (part, mechanism), rhos in groups.items()
    ]


def privacy_summary(record: Mapping[str, Any] | None, generator: str) -> dict[str, Any]:
    """The display form of a model's ``privacy_`` record (``None``: not private): its
    ``rows`` (field, text), its ``spends``, their ``totals`` by part and mechanism, and
    whether it is ``private``."""
    if not record:
        return {
            "generator": generator,
            "private": False,
            "rows": [["generator", generator], ["guarantee", NOT_PRIVATE]],
            "spend_headers": SPEND_HEADERS,
            "spends": [],
            "total_headers": TOTAL_HEADERS,
            "totals": [],
        }
    delta = record.get("delta_total", record.get("delta_spent", record["delta"]))
    head = [
        ["generator", generator],
        ["mechanism", record["mechanism"]],
        [
            "guarantee",
            f"(epsilon {_num(record['epsilon'])}, delta {_num(delta)})-DP, neighbouring "
            f"datasets: {record.get('neighbouring', 'add or remove one row')}",
        ],
        ["epsilon spent", _num(record.get("epsilon_spent"))],
    ]
    body, spends = _dpsgd(record) if record["mechanism"] == "DP-SGD" else _zcdp(record)
    tail = [["post-processing", record.get("post_processing", "")]]
    return {
        "generator": generator,
        "private": True,
        "rows": head + body + tail,
        "spend_headers": SPEND_HEADERS,
        "spends": spends,
        "total_headers": TOTAL_HEADERS,
        "totals": _totals(spends),
    }


def model_privacy(model: Any) -> dict[str, Any]:
    """:func:`privacy_summary` of a fitted or loaded generator."""
    return privacy_summary(getattr(model, "privacy_", None), str(model.name))
