"""The sweep file: its tables, validated from one declarative table of constraints.

Every parameter of every table is a :class:`Constraint` row below (its key, what it may
be, its default); one function checks any table against its rows, so every bad value
gets the same message: which parameter, of what, what was allowed, what was received.
Checks that need the registries (strategy specs, metric, dataset and generator names)
follow, and every problem is reported at once.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ouroboros.errors import MissingDependencyError, OuroborosError, ParameterError
from ouroboros.io import read_table
from ouroboros.runners import Resources

#: the default of a parameter that has none
REQUIRED = object()


@dataclass(frozen=True)
class Constraint:
    """One parameter of a sweep-file table: its key, what it may be, its default.

    ``check`` is only called on a given value; an absent one takes ``default`` (a
    :data:`REQUIRED` parameter must be given).
    """

    key: str
    allowed: str
    check: Callable[[Any], bool]
    default: Any = None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_from(low: int) -> Callable[[Any], bool]:
    return lambda value: _is_int(value) and value >= low


def _number_from(low: float) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= low


def _text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _seeds(value: Any) -> bool:
    if _is_int(value):
        return value >= 1
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(_is_int(s) and s >= 0 for s in value)
        and len(set(value)) == len(value)
    )


def _strategies(value: Any) -> bool:
    specs = _split(value) if isinstance(value, str) else value
    return _texts(specs) and len(specs) > 0


def _tables(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 0 and all(isinstance(v, dict) for v in value)


SWEEP = (
    Constraint("name", "a non-empty string", _text),
    Constraint("generations", "an integer >= 1", _int_from(1), REQUIRED),
    Constraint("seeds", "a count >= 1 or a list of distinct integers >= 0", _seeds, 1),
    Constraint("strategies", "a list of strategy specs such as 'mix:0.2'", _strategies, REQUIRED),
    Constraint(
        "holdout", "a fraction in (0, 1)", lambda v: isinstance(v, float) and 0 < v < 1, 0.3
    ),
    Constraint("sample_size", "an integer >= 2", _int_from(2)),
    Constraint("metrics", "a non-empty list of metric names", lambda v: _texts(v) and len(v) > 0),
    Constraint("seed", "an integer >= 0", _int_from(0), 0),
    Constraint("output", "a folder path", _text),
    Constraint("store", "a store URL", _text),
    Constraint("reports", "true or false", lambda v: isinstance(v, bool), True),
    Constraint("datasets", "a non-empty list of [[datasets]] tables", _tables, REQUIRED),
    Constraint("synthesizers", "a non-empty list of [[synthesizers]] tables", _tables, REQUIRED),
    Constraint("runner", "a [runner] table", lambda v: isinstance(v, dict), {}),
)
DATASET = (
    Constraint("name", "a non-empty string", _text),
    Constraint("path", "a file path, relative to the sweep file", _text),
    Constraint("builtin", "the name of a bundled dataset", _text),
    Constraint("target", "a column name", _text),
    Constraint("rows", "an integer >= 4", _int_from(4)),
    Constraint("drop", "a list of column names", _texts, []),
)
SYNTHESIZER = (
    Constraint("name", "a generator name", _text, REQUIRED),
    Constraint("label", "a non-empty string", _text),
    Constraint("params", "a table of hyper-parameters", lambda v: isinstance(v, dict), {}),
    Constraint("cpus", "a number >= 0", _number_from(0)),
    Constraint("gpus", "a number >= 0 (a fraction shares a GPU)", _number_from(0)),
)
RUNNER = (
    Constraint("name", "'local' or 'ray'", lambda v: v in ("local", "ray"), "local"),
    Constraint("workers", "an integer >= 1", _int_from(1), 1),
    Constraint("address", "a Ray address (auto or HOST:PORT)", _text),
    Constraint("max_retries", "an integer >= 0", _int_from(0)),
)


def check_table(
    table: dict[str, Any], constraints: tuple[Constraint, ...], where: str, problems: list[str]
) -> dict[str, Any]:
    """The values of ``table`` (``where`` names it in messages), defaults filled in.

    Each unknown key, missing required parameter or bad value adds a message to
    ``problems``; a bad or missing parameter is left out of the returned dict.
    """
    allowed = [c.key for c in constraints]
    extra = sorted(set(table) - set(allowed))
    if extra:
        problems.append(f"{where}: unknown keys {extra}; allowed: {sorted(allowed)}")
    values = {}
    for c in constraints:
        if c.key not in table:
            if c.default is REQUIRED:
                problems.append(f"{where} parameter {c.key!r} must be {c.allowed}; it is missing")
            else:
                values[c.key] = copy.copy(c.default)
        elif c.check(table[c.key]):
            values[c.key] = table[c.key]
        else:
            problems.append(
                f"{where} parameter {c.key!r} must be {c.allowed}; got {table[c.key]!r}"
            )
    return values


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def slug(text: str) -> str:
    """``text`` as a folder name (``mix:0.2`` becomes ``mix-0.2``)."""
    return "".join(c if c.isalnum() or c in ".-_" else "-" for c in text)


def _toml() -> Any:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError as exc:
            raise MissingDependencyError(
                "reading sweep files on Python 3.10 needs tomli: pip install tomli"
            ) from exc
    return tomllib


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the grid: a file or a bundled table, optionally sampled and trimmed."""

    name: str
    path: Path | None = None
    builtin: str | None = None
    target: str | None = None
    rows: int | None = None
    drop: tuple[str, ...] = ()

    def load(self, seed: int) -> pd.DataFrame:
        """The table, less the ``drop`` columns, sampled to ``rows`` rows with ``seed``."""
        if self.path is not None:
            table = read_table(self.path)
        else:
            from ouroboros import datasets

            table = datasets.load(self.builtin)
        missing = [c for c in self.drop if c not in table.columns]
        if missing:
            raise ParameterError(
                f"dataset {self.name!r}: cannot drop {missing}; columns are {list(table.columns)}"
            )
        table = table.drop(columns=list(self.drop))
        if self.rows is not None and self.rows < len(table):
            keep = np.sort(np.random.default_rng(seed).choice(len(table), self.rows, replace=False))
            table = table.iloc[keep].reset_index(drop=True)
        return table

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": None if self.path is None else str(self.path),
            "builtin": self.builtin,
            "target": self.target,
            "rows": self.rows,
            "drop": list(self.drop),
        }


@dataclass(frozen=True)
class SynthesizerSpec:
    """One generator of the grid, with its hyper-parameters and a label unique in the sweep.

    ``cpus`` and ``gpus`` (a fraction shares a GPU) are what each of its trajectories
    asks the runner for; None keeps the lab's request (one CPU).
    """

    label: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    cpus: float | None = None
    gpus: float | None = None

    @property
    def resources(self) -> Resources | None:
        if self.cpus is None and self.gpus is None:
            return None
        default = Resources()
        return Resources(
            cpus=default.cpus if self.cpus is None else self.cpus,
            gpus=default.gpus if self.gpus is None else self.gpus,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "name": self.name,
            "params": self.params,
            "cpus": self.cpus,
            "gpus": self.gpus,
        }


@dataclass(frozen=True)
class Cell:
    """One (dataset, synthesizer) pair: a collapse experiment over every strategy and seed."""

    dataset: DatasetSpec
    synthesizer: SynthesizerSpec

    @property
    def key(self) -> str:
        return f"{self.dataset.name}/{self.synthesizer.label}"

    @property
    def folder(self) -> str:
        return f"{slug(self.dataset.name)}__{slug(self.synthesizer.label)}"


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep file; build it with :meth:`from_toml` or :meth:`from_dict`."""

    name: str
    datasets: tuple[DatasetSpec, ...]
    synthesizers: tuple[SynthesizerSpec, ...]
    strategies: tuple[str, ...]
    seeds: tuple[int, ...]
    generations: int
    holdout: float = 0.3
    sample_size: int | None = None
    metrics: tuple[str, ...] | None = None
    seed: int = 0
    output: Path | None = None
    store: str | None = None
    runner: dict[str, Any] = field(default_factory=dict)
    reports: bool = True

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> SweepConfig:
        """Read and validate a sweep file; relative paths in it are relative to its folder."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
            raise ParameterError(f"cannot read the sweep file {str(path)!r}: {exc}") from exc
        toml = _toml()
        try:
            data = toml.loads(text)
        except toml.TOMLDecodeError as exc:
            raise ParameterError(f"sweep file {str(path)!r} is not valid TOML: {exc}") from exc
        return cls.from_dict(data, base=path.parent, source=str(path))

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, base: str | os.PathLike = ".", source: str = "sweep"
    ) -> SweepConfig:
        """Validate a sweep given as a dict (the TOML structure); report every problem at once."""
        if not isinstance(data, dict):
            raise ParameterError(f"{source}: a sweep must be a table of settings")
        problems: list[str] = []
        top = check_table(data, SWEEP, "sweep", problems)
        if isinstance(top.get("strategies"), str):
            top["strategies"] = _split(top["strategies"])
        _check_names(top, problems)
        datasets = _datasets(top.get("datasets", []), Path(base), problems)
        synthesizers = _synthesizers(top.get("synthesizers", []), problems)
        check_table(top.get("runner", {}), RUNNER, "[runner]", problems)
        if problems:
            listing = "\n".join(f"- {p}" for p in problems)
            raise ParameterError(f"{source}: {len(problems)} problem(s) in the sweep:\n{listing}")
        seeds = top["seeds"]
        return cls(
            name=top["name"] or Path(source).stem,
            datasets=tuple(datasets),
            synthesizers=tuple(synthesizers),
            strategies=tuple(top["strategies"]),
            seeds=tuple(range(seeds)) if _is_int(seeds) else tuple(seeds),
            generations=top["generations"],
            holdout=top["holdout"],
            sample_size=top["sample_size"],
            metrics=None if top["metrics"] is None else tuple(top["metrics"]),
            seed=top["seed"],
            output=None if top["output"] is None else Path(base) / top["output"],
            store=top["store"],
            runner=dict(data.get("runner", {})),
            reports=top["reports"],
        )

    @property
    def cells(self) -> list[Cell]:
        return [Cell(d, s) for d in self.datasets for s in self.synthesizers]

    @property
    def trajectories(self) -> int:
        return len(self.cells) * len(self.strategies) * len(self.seeds)

    def to_dict(self) -> dict[str, Any]:
        """The resolved sweep, as stored with its run."""
        return {
            "name": self.name,
            "datasets": [d.to_dict() for d in self.datasets],
            "synthesizers": [s.to_dict() for s in self.synthesizers],
            "strategies": list(self.strategies),
            "seeds": list(self.seeds),
            "generations": self.generations,
            "holdout": self.holdout,
            "sample_size": self.sample_size,
            "metrics": None if self.metrics is None else list(self.metrics),
            "seed": self.seed,
            "reports": self.reports,
        }


def _check_names(top: dict[str, Any], problems: list[str]) -> None:
    """The strategy specs parse and the metric names are registered."""
    from ouroboros import metrics as metric_registry
    from ouroboros.collapse import strategies

    for spec in top.get("strategies") or ():
        try:
            strategies.parse(spec)
        except OuroborosError as exc:
            problems.append(f"sweep parameter 'strategies': strategy {spec!r} is invalid: {exc}")
    known = set(metric_registry.names())
    wrong = [m for m in top.get("metrics") or () if m not in known]
    if wrong:
        problems.append(
            f"sweep parameter 'metrics': unknown metrics {wrong}; available: {sorted(known)}"
        )


def _datasets(items: list[dict[str, Any]], base: Path, problems: list[str]) -> list[DatasetSpec]:
    from ouroboros import datasets

    specs = []
    for i, item in enumerate(items):
        where = f"[[datasets]] #{i + 1}"
        values = check_table(item, DATASET, where, problems)
        path, builtin = values.get("path"), values.get("builtin")
        if (path is None) == (builtin is None):
            if "path" in values and "builtin" in values:
                problems.append(f"{where}: give either parameter 'path' or 'builtin'")
            continue
        if path is not None:
            path = base / path
            if not path.is_file():
                problems.append(f"{where} parameter 'path': no file {str(path)!r}")
        elif builtin not in datasets.names():
            problems.append(
                f"{where} parameter 'builtin' must be the name of a bundled dataset "
                f"({', '.join(datasets.names())}); got {builtin!r}"
            )
        if len(values) == len(DATASET):
            name = values["name"] or Path(str(path or builtin)).name.split(".")[0]
            drop = tuple(values["drop"])
            specs.append(DatasetSpec(name, path, builtin, values["target"], values["rows"], drop))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        problems.append(f"[[datasets]] parameter 'name' must be unique; got {names}")
    return specs


def _synthesizers(items: list[dict[str, Any]], problems: list[str]) -> list[SynthesizerSpec]:
    from ouroboros import synthesizers

    specs = []
    for i, item in enumerate(items):
        where = f"[[synthesizers]] #{i + 1}"
        values = check_table(item, SYNTHESIZER, where, problems)
        if len(values) < len(SYNTHESIZER):
            continue
        try:
            synthesizers.create(values["name"], **values["params"])
        except OuroborosError as exc:
            problems.append(f"{where} parameter 'name' or 'params': {str(exc).splitlines()[0]}")
            continue
        label = values["label"] or values["name"]
        params = dict(values["params"])
        specs.append(SynthesizerSpec(label, values["name"], params, values["cpus"], values["gpus"]))
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        problems.append(
            "[[synthesizers]] parameter 'label' must be unique (set it to tell two uses of one "
            f"generator apart); got {labels}"
        )
    return specs
