"""What a collapse experiment produced: tidy tables, their Parquet form, and the verdicts."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ouroboros.collapse import reference, strategies
from ouroboros.collapse.records import GenerationRecord
from ouroboros.errors import FileFormatError, ParameterError
from ouroboros.io import atomic_path, write_table

_META_KEY = b"ouroboros.collapse"
TABLE_COLUMNS = ["seed", "strategy", "generation", "metric", "value"]
PROVENANCE_COLUMNS = ["seed", "strategy", "generation", "source", "source_generation", "rows"]

#: a drift counts once it exceeds this share of the metric's range (best to worst)...
RANGE_TOLERANCE = 0.02
#: ...(or of the generation-0 value, for a metric without a finite range)...
RELATIVE_TOLERANCE = 0.05
#: ...and this many standard deviations of the seed-to-seed spread
NOISE_TOLERANCE = 2.0
METRIC_COLUMNS = ["metric", "category", "direction", "best", "worst", "ceiling"]
#: the files of a result folder (:meth:`CollapseResult.save`), by name...
LAYOUT = {
    "results": "results.parquet",
    "provenance": "provenance.parquet",
    "generations": "generations.parquet",
    "report": "report.html",
}
#: ...and the subfolder where the run that made it keeps its checkpoints
CHECKPOINTS = "checkpoints"


@dataclass(frozen=True)
class Drift:
    """How one strategy moved on one metric relative to generation 0."""

    strategy: str
    metric: str
    start: float
    end: float
    worse: float  # positive when the metric got worse (per its direction); NaN if unknown
    tolerance: float
    first: int | None  # first generation beyond tolerance (and staying there)
    verdict: str  # "degraded", "improved", "stable" or "unknown"
    worsening: bool  # still getting worse over the second half of the generations

    @property
    def relative(self) -> float:
        return (self.end - self.start) / abs(self.start) if self.start else math.nan


@dataclass
class CollapseResult:
    """Results of :meth:`CollapseExperiment.run`.

    ``table``: tidy metric values (seed, strategy, generation, metric, value).
    ``provenance``: per generation, how many training rows came from real data
    (``source == "real"``) and from which earlier generation (``source_generation``).
    ``generations``: one row per generation run, with its status, error, training rows,
    strategy diagnostics (e.g. curate's ``keep_rate``) and timings.
    ``metrics``: each metric's category, direction and real-vs-real ceiling.
    ``config``: the resolved experiment settings.
    """

    table: pd.DataFrame
    provenance: pd.DataFrame
    generations: pd.DataFrame
    metrics: pd.DataFrame
    config: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------ building
    @classmethod
    def from_records(
        cls, records: list[GenerationRecord], config: dict[str, Any]
    ) -> CollapseResult:
        """Assemble the tables from per-generation records of :func:`run_trajectory`."""
        values, sources, runs, meta = [], [], [], {}
        for rec in records:
            key = (rec.seed, rec.strategy, rec.generation)
            run = dict(zip(("seed", "strategy", "generation"), key, strict=True))
            run |= {"status": rec.status, "error": rec.error, "train_rows": rec.train_rows}
            if rec.decision:
                run["decision"] = rec.decision
            run |= rec.info
            run |= {f"{k}_seconds": v for k, v in rec.seconds.items()}
            runs.append(run)
            for src in rec.provenance:
                sources.append((*key, src.kind, src.generation, src.rows))
            for score in rec.scores if rec.ok else ():
                value = np.nan if score.value is None else score.value
                values.append((*key, score.metric, value))
                entry = meta.setdefault(
                    score.metric,
                    {"category": score.category, "direction": score.direction, "c": []},
                )
                if score.ceiling is not None:
                    entry["c"].append(score.ceiling)
        table = pd.DataFrame(values, columns=TABLE_COLUMNS)
        provenance = pd.DataFrame(sources, columns=PROVENANCE_COLUMNS)
        provenance["source_generation"] = provenance["source_generation"].astype("Int64")
        metrics = pd.DataFrame(
            [
                (
                    m,
                    e["category"],
                    e["direction"],
                    *_bounds(m),
                    np.mean(e["c"]) if e["c"] else np.nan,
                )
                for m, e in meta.items()
            ],
            columns=METRIC_COLUMNS,
        )
        generations = pd.DataFrame(runs)
        order = ["strategy", "seed", "generation"]
        return cls(
            table.sort_values(order, kind="stable").reset_index(drop=True),
            provenance.sort_values(order, kind="stable").reset_index(drop=True),
            generations.sort_values(order, kind="stable").reset_index(drop=True)
            if len(generations)
            else generations,
            metrics,
            config,
        )

    # ------------------------------------------------------------ files
    def save(self, folder: str | os.PathLike, *, report: bool = True) -> dict[str, Path]:
        """Write the result folder (:data:`LAYOUT`): the whole result in ``results.parquet``,
        provenance and generations also as plain tables, and unless ``report`` is false
        the HTML report. ``ouro collapse`` and sweeps write this same layout; returns the
        paths written, by name."""
        root = Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        paths = {"results": self.to_parquet(root / LAYOUT["results"])}
        paths["provenance"] = write_table(self.provenance, root / LAYOUT["provenance"])
        paths["generations"] = write_table(self.generations, root / LAYOUT["generations"])
        if report:
            paths["report"] = self.to_html(root / LAYOUT["report"])
        return paths

    @classmethod
    def load(cls, folder: str | os.PathLike) -> CollapseResult:
        """Read a folder written by :meth:`save`."""
        path = Path(folder) / LAYOUT["results"]
        if not path.is_file():
            raise FileFormatError(f"{str(folder)!r} holds no collapse result (no {path.name})")
        return cls.read_parquet(path)

    def to_parquet(self, path: str | os.PathLike) -> Path:
        """Write ``table`` as Parquet; the other tables and the config ride in its metadata,
        so :meth:`read_parquet` restores the whole result."""
        extra = {
            "provenance": _records(self.provenance),
            "generations": _records(self.generations),
            "metrics": _records(self.metrics),
            "config": self.config,
        }
        arrow = pa.Table.from_pandas(self.table, preserve_index=False)
        metadata = dict(arrow.schema.metadata or {})
        metadata[_META_KEY] = json.dumps(extra, default=_json_default).encode("utf-8")
        arrow = arrow.replace_schema_metadata(metadata)
        with atomic_path(path) as tmp:
            pq.write_table(arrow, tmp)
        return Path(path)

    @classmethod
    def read_parquet(cls, path: str | os.PathLike) -> CollapseResult:
        """Read a result written by :meth:`to_parquet`."""
        try:
            arrow = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise FileFormatError(f"{str(path)!r} is not a readable Parquet file: {exc}") from exc
        raw = (arrow.schema.metadata or {}).get(_META_KEY)
        if raw is None:
            raise FileFormatError(f"{str(path)!r} holds no collapse result (no lab metadata)")
        extra = json.loads(raw)
        provenance = pd.DataFrame(extra["provenance"], columns=PROVENANCE_COLUMNS)
        provenance["source_generation"] = provenance["source_generation"].astype("Int64")
        return cls(
            arrow.to_pandas(),
            provenance,
            pd.DataFrame(extra["generations"]),
            pd.DataFrame(extra["metrics"], columns=METRIC_COLUMNS),
            extra["config"],
        )

    def to_html(self, path: str | os.PathLike, *, theory: bool = True) -> Path:
        """Write the self-contained HTML report (see :mod:`ouroboros.report.collapse`)."""
        from ouroboros.report import write_collapse

        curves = self.theory_curves() if theory else {}
        return write_collapse(self, path, theory=curves, descriptions=self.descriptions())

    def descriptions(self) -> dict[str, str]:
        """What each strategy trains on ("" for one this installation does not know)."""
        out = {}
        for spec in self.strategies:
            try:
                out[spec] = strategies.parse(spec).description
            except ParameterError:  # a strategy unknown to this installation: still render
                out[spec] = ""
        return out

    def theory_curves(self, seed: int = 0) -> dict[str, list[float]]:
        """Per strategy, the reference model's share of real categories still present at
        each generation (see :func:`ouroboros.collapse.reference.categories_kept`)."""
        curves = reference.categories_kept(
            self.config.get("categorical_frequencies") or {},
            self.strategies,
            generations=int(self.config.get("generations", 1)),
            sample_size=int(self.config.get("sample_size", 2)),
            seed=seed,
        )
        return {spec: curve.tolist() for spec, curve in curves.items()}

    # ------------------------------------------------------------ analysis
    @property
    def strategies(self) -> list[str]:
        configured = self.config.get("strategies") or []
        seen = list(self.table["strategy"].unique()) + list(self.generations.get("strategy", []))
        return [s for s in configured if s in set(seen)] or list(dict.fromkeys(seen))

    @property
    def failures(self) -> pd.DataFrame:
        """The generations that failed, with their errors."""
        if "status" not in self.generations:
            return self.generations
        return self.generations[self.generations["status"] != "ok"].reset_index(drop=True)

    def curves(self, metric: str) -> pd.DataFrame:
        """Per strategy and generation: mean, min and max over seeds of ``metric``."""
        rows = self.table[self.table["metric"] == metric]
        grouped = rows.groupby(["strategy", "generation"])["value"]
        out = grouped.agg(["mean", "min", "max", "std", "count"]).reset_index()
        return out

    def drift(self) -> list[Drift]:
        """For every strategy and metric: the change of the mean over seeds from generation 0
        to the last generation with values, judged in the metric's own direction."""
        out = []
        for info in self.metrics.itertuples(index=False):
            metric = info.metric
            span = abs(float(info.worst) - float(info.best))
            curves = self.curves(metric)
            spread = curves["std"].dropna()
            noise = float(spread.mean()) if len(spread) else 0.0
            for strategy in self.strategies:
                curve = curves[curves["strategy"] == strategy].set_index("generation")
                curve = curve[curve["mean"].notna()]
                if curve.empty or 0 not in curve.index:
                    continue
                start, end = float(curve.loc[0, "mean"]), float(curve["mean"].iloc[-1])
                sign = {"higher": 1.0, "lower": -1.0}.get(info.direction, math.nan)
                practical = (
                    RANGE_TOLERANCE * span
                    if math.isfinite(span) and span > 0
                    else RELATIVE_TOLERANCE * abs(start)
                )
                tolerance = max(practical, NOISE_TOLERANCE * noise, 1e-12)
                worse = sign * (start - curve["mean"])
                beyond = (worse > tolerance).to_numpy()
                first = None
                if beyond[-1]:
                    stays = np.flatnonzero(~beyond)
                    first = int(curve.index[stays[-1] + 1 if len(stays) else 0])
                final = float(worse.iloc[-1])
                halfway = float(worse.iloc[(len(worse) - 1) // 2])
                if math.isnan(final):
                    verdict = "unknown"
                elif final > tolerance:
                    verdict = "degraded"
                elif final < -tolerance:
                    verdict = "improved"
                else:
                    verdict = "stable"
                worsening = verdict == "degraded" and final - halfway > tolerance
                out.append(
                    Drift(strategy, metric, start, end, final, tolerance, first, verdict, worsening)
                )
        return out

    def summary(self) -> list[str]:
        """Plain-language findings: which strategies collapsed, on what, and how fast."""
        drifts = self.drift()
        lines = []
        last = int(self.config.get("generations", 1)) - 1
        for strategy in self.strategies:
            mine = [d for d in drifts if d.strategy == strategy]
            bad = sorted(
                (d for d in mine if d.verdict == "degraded"),
                key=lambda d: (d.first if d.first is not None else last, d.metric),
            )
            if not mine:
                lines.append(f"{strategy}: no metric values (every run failed).")
            elif not bad:
                lines.append(
                    f"{strategy}: stayed within tolerance of generation 0 on all {len(mine)} "
                    "metrics" + _improved(mine) + "."
                )
            else:
                parts = [
                    f"{d.metric} {_change(d)} from generation {d.first}, "
                    + ("still worsening" if d.worsening else "levelling off")
                    for d in bad[:6]
                ]
                more = f" and {len(bad) - 6} more" if len(bad) > 6 else ""
                lines.append(
                    f"{strategy}: degraded on {len(bad)} of {len(mine)} metrics by generation "
                    f"{last} ({'; '.join(parts)}{more})" + _improved(mine) + "."
                )
        ranked = self.ranking()
        if len(ranked) > 1:
            lines.append(
                "Healthiest to least healthy: "
                + ", ".join(f"{s} ({n} degraded)" for s, n in ranked)
                + "."
            )
        failed = self.failures
        if len(failed):
            first = failed.iloc[0]
            lines.append(
                f"{len(failed)} generation(s) failed, e.g. {first['strategy']} seed "
                f"{first['seed']} at generation {first['generation']}: {first['error']}"
            )
        return lines

    def ranking(self) -> list[tuple[str, int]]:
        """Strategies from the fewest degraded metrics to the most (ties: smaller drift)."""
        drifts = self.drift()
        scores = []
        for strategy in self.strategies:
            mine = [d for d in drifts if d.strategy == strategy and not math.isnan(d.worse)]
            if not mine:
                continue
            degraded = sum(d.verdict == "degraded" for d in mine)
            drift = float(np.mean([d.worse / d.tolerance for d in mine]))
            scores.append((degraded, drift, strategy))
        return [(s, n) for n, _, s in sorted(scores)]


def _bounds(metric: str) -> tuple[float, float]:
    """The metric's declared best and worst values (NaN when it is not registered here)."""
    from ouroboros import metrics

    try:
        cls = metrics.get(metric)
    except ValueError:
        return math.nan, math.nan
    return float(getattr(cls, "best", math.nan)), float(getattr(cls, "worst", math.nan))


def _change(d: Drift) -> str:
    if d.start and math.isfinite(d.relative):
        return f"{d.relative:+.0%} ({d.start:.3g} to {d.end:.3g})"
    return f"{d.start:.3g} to {d.end:.3g}"


def _improved(drifts: list[Drift]) -> str:
    better = [d.metric for d in drifts if d.verdict == "improved"]
    return f", improved on {', '.join(better)}" if better else ""


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records")) if len(frame.columns) else []


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return repr(value)
