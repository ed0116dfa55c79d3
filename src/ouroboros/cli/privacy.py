"""``ouro fit --epsilon/--delta`` support and ``ouro ledger DATA``: the privacy budget
spent on a source dataset, release by release, under composition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.table import Table

from ouroboros import synthesizers
from ouroboros.cli._common import console
from ouroboros.cli.lineage import STORE_HELP
from ouroboros.errors import ParameterError
from ouroboros.io import read_table
from ouroboros.lineage.hashing import content_hash
from ouroboros.privacy.accounting import cdp_rho
from ouroboros.privacy.ledger import check_budget, record, release_of, total
from ouroboros.store import open_store


def private_kind(name: str) -> str:
    """How generator ``name`` offers differential privacy: always, as an option, or not."""
    klass = synthesizers.get(name)
    if not klass.tags.differential_privacy:
        return ""
    return "dp=True" if "dp" in klass.param_names() else "yes"


def dp_params(
    synth: str, params: dict[str, Any], epsilon: float | None, delta: float | None
) -> dict[str, Any]:
    """``params`` with ``--epsilon``/``--delta`` (and ``dp=True`` where DP is an option);
    refused for a generator that offers no privacy."""
    if epsilon is None and delta is None:
        return params
    if not private_kind(synth):
        private = [n for n in synthesizers.names() if private_kind(n)]
        raise ParameterError(
            f"--epsilon/--delta: generator {synth!r} is not differentially private; "
            f"private ones are {private}"
        )
    params = dict(params)
    if "dp" in synthesizers.get(synth).param_names():
        params["dp"] = True
    if epsilon is not None:
        params["epsilon"] = float(epsilon)
    if delta is not None:
        params["delta"] = float(delta)
    return params


def precheck(
    table: pd.DataFrame, model: Any, store: str | None, budget: float | None
) -> str | None:
    """Before a DP fit: the dataset's content hash, after refusing a release that the
    requested epsilon would carry past ``budget`` (``None``: the model is not private)."""
    if not model.tags.differential_privacy or not getattr(model, "dp", True):
        return None
    key = content_hash(table)
    if budget is not None:
        planned = {"mechanism": model.name, "epsilon": float(model.epsilon), "delta": 0.0}
        if getattr(model, "accountant", None) == "zCDP":  # composes in rho, as it will be recorded
            delta = float(model.delta)
            rho = cdp_rho(float(model.epsilon), delta)
            planned.update(delta=delta, rho=rho, conversion_delta=delta)
        with open_store(store) as opened:
            check_budget(opened.releases(key), planned, epsilon=budget, dataset="this dataset")
    return key


def record_fit(model: Any, key: str | None, output: Path, store: str | None, budget: float | None):
    """Record a DP fit's release in the ledger of its source dataset (before the model file
    is written: a refused release writes nothing)."""
    privacy = getattr(model, "privacy_", None)
    if key is None or not privacy:
        return
    release = release_of(privacy, model=str(output), generator=model.name)
    with open_store(store) as opened:
        after = record(opened, key, release, epsilon=budget)
    console.print(
        f"privacy ledger: release {after.releases} of this dataset; total spent epsilon="
        f"{after.epsilon:.4g}, delta={after.delta:.3g}"
        + ("" if budget is None else f" of the budget epsilon={budget:g}")
    )


def ledger(
    data: Path = typer.Argument(..., help="Source table (CSV or Parquet)."),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """The DP releases made from DATA (by content hash) and the privacy spent in all."""
    key = content_hash(read_table(data))
    with open_store(store) as opened:
        releases = opened.releases(key)
    table = Table("created", "mechanism", "epsilon", "delta", "model")
    for release in releases:
        table.add_row(
            str(release["created"]),
            str(release["mechanism"]),
            f"{float(release['epsilon']):.4g}",
            f"{float(release['delta']):.3g}",
            str(release.get("model", "")),
        )
    console.print(table, markup=False)
    spent = total(releases)
    console.print(
        f"{spent.releases} releases; total epsilon={spent.epsilon:.4g}, delta={spent.delta:.3g} "
        f"(zCDP composition where known; basic composition would give {spent.basic_epsilon:.4g})"
    )


def register(app: typer.Typer) -> None:
    app.command()(ledger)
