"""The collapse loop end to end on small tables: results, provenance, resume, failures."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from ouroboros.collapse import (
    CollapseExperiment,
    CollapseResult,
    GenerationRecord,
    Plan,
    default_metrics,
)
from ouroboros.collapse.experiment import trajectory_dir
from ouroboros.collapse.result import LAYOUT
from ouroboros.collapse.trajectory import RECORD, generation_dir, read_records
from ouroboros.errors import CollapseError, DataError, FileFormatError, ParameterError
from ouroboros.synthesizers.independent import IndependentSynthesizer

METRICS = ["tail_kept", "category_coverage", "ks_complement"]


def make_table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    colour = rng.choice(
        ["red", "green", "blue", "violet", "amber"], n, p=[0.5, 0.3, 0.14, 0.04, 0.02]
    )
    return pd.DataFrame(
        {
            "height": rng.normal(170, 10, n).round(1),
            "visits": rng.poisson(3, n),
            "colour": colour,
            "member": rng.choice(["yes", "no"], n),
        }
    )


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return make_table()


def experiment(table, **overrides) -> CollapseExperiment:
    settings = dict(
        holdout=0.25,
        generations=3,
        strategy="replace,accumulate",
        seeds=2,
        metrics=METRICS,
    )
    settings.update(overrides)
    synthesizer = settings.pop("synthesizer", "independent")
    return CollapseExperiment(synthesizer, table, **settings)


@pytest.fixture(scope="module")
def result(table) -> CollapseResult:
    return experiment(table).run()


def test_tables_are_tidy_and_complete(result):
    assert list(result.table.columns) == ["seed", "strategy", "generation", "metric", "value"]
    assert len(result.table) == 2 * 2 * 3 * len(METRICS)
    assert set(result.table["metric"]) == set(METRICS)
    assert set(result.metrics["direction"]) <= {"higher", "lower"}
    assert (result.generations["status"] == "ok").all()
    assert result.config["sample_size"] == 180
    assert result.config["strategies"] == ["replace", "accumulate"]


def test_provenance_matches_the_strategy(result):
    prov = result.provenance
    total = prov.groupby(["seed", "strategy", "generation"])["rows"].sum()
    runs = result.generations.set_index(["seed", "strategy", "generation"])["train_rows"]
    pd.testing.assert_series_equal(total.sort_index(), runs.sort_index(), check_names=False)
    prov = prov[prov["seed"] == 0]
    replace = prov[prov["strategy"] == "replace"]
    assert replace.loc[replace["generation"] == 2, "source_generation"].tolist() == [1]
    accumulate = prov[(prov["strategy"] == "accumulate") & (prov["generation"] == 2)]
    assert accumulate["source"].tolist() == ["real", "synthetic", "synthetic"]
    assert accumulate["source_generation"].tolist()[1:] == [0, 1]
    gen0 = prov[prov["generation"] == 0]
    assert (gen0["source"] == "real").all()


def test_generation_zero_is_shared_by_every_strategy(result):
    gen0 = result.table[result.table["generation"] == 0].pivot_table(
        index=["seed", "metric"], columns="strategy", values="value"
    )
    np.testing.assert_array_equal(gen0["replace"], gen0["accumulate"])


def test_parquet_round_trip_and_summary(result, tmp_path):
    path = result.to_parquet(tmp_path / "results.parquet")
    back = CollapseResult.read_parquet(path)
    pd.testing.assert_frame_equal(back.table, result.table)
    pd.testing.assert_frame_equal(back.provenance, result.provenance)
    pd.testing.assert_frame_equal(back.metrics, result.metrics)
    assert back.config == json.loads(json.dumps(result.config))
    assert pd.read_parquet(path).shape == result.table.shape
    lines = result.summary()
    assert lines[0].startswith("replace: ") and lines[1].startswith("accumulate: ")
    assert {d.verdict for d in result.drift()} <= {"degraded", "improved", "stable"}


def test_html_report(result, tmp_path):
    html = result.to_html(tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= len(METRICS) + 1
    for name in METRICS + ["replace", "accumulate", "Shumailov", "real-vs-real"]:
        assert name in html
    assert "http://" not in html and "https://" not in html


def test_checkpoints_resume_without_recomputing(table, result, tmp_path):
    first = experiment(table).run(checkpoint_dir=tmp_path / "ck")
    # same seed, same numbers
    pd.testing.assert_frame_equal(first.table, result.table)
    folder = trajectory_dir(tmp_path / "ck", "replace", 0)
    for g in range(3):
        assert (generation_dir(folder, g) / RECORD).is_file()
        assert (generation_dir(folder, g) / "sample.parquet").is_file()
        assert (generation_dir(folder, g) / "model.ouro").is_file()
    with pytest.raises(CollapseError, match="resume"):
        experiment(table).run(checkpoint_dir=tmp_path / "ck")
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "ck").rglob(RECORD)}
    again = experiment(table).run(checkpoint_dir=tmp_path / "ck", resume=True)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "ck").rglob(RECORD)} == stamps
    pd.testing.assert_frame_equal(again.table, first.table)
    # more generations extend the run; the first three are read back
    longer = experiment(table, generations=4).run(checkpoint_dir=tmp_path / "ck", resume=True)
    assert longer.table["generation"].max() == 3
    pd.testing.assert_frame_equal(
        longer.table[longer.table["generation"] < 3].reset_index(drop=True), first.table
    )
    with pytest.raises(CollapseError, match="differs"):
        experiment(table, seeds=3).run(checkpoint_dir=tmp_path / "ck", resume=True)


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import pandas as pd
    from ouroboros.collapse import CollapseExperiment

    table = pd.read_parquet(sys.argv[1])
    exp = CollapseExperiment("independent", table, holdout=0.25, generations=3,
                             strategy="replace,accumulate", seeds=1, metrics={metrics!r})

    def progress(done, total):
        if done >= 2:
            os.kill(os.getpid(), signal.SIGKILL)

    exp.run(checkpoint_dir=sys.argv[2], progress=progress)
    """
)


def test_killed_run_resumes_with_identical_numbers(table, tmp_path):
    data = tmp_path / "table.parquet"
    table.to_parquet(data)
    script = tmp_path / "killer.py"
    script.write_text(KILLER.format(metrics=METRICS))
    killed = subprocess.run(
        [sys.executable, str(script), str(data), str(tmp_path / "ck")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr
    before = {
        p: (p.stat().st_mtime_ns, json.loads(p.read_text())["computed_by"])
        for p in (tmp_path / "ck").rglob(RECORD)
    }
    assert 2 <= len(before) < 6
    settings = dict(generations=3, seeds=1)
    resumed = experiment(table, **settings).run(checkpoint_dir=tmp_path / "ck", resume=True)
    after = {p: json.loads(p.read_text())["computed_by"] for p in (tmp_path / "ck").rglob(RECORD)}
    assert len(after) == 6
    for path, (stamp, who) in before.items():
        assert path.stat().st_mtime_ns == stamp and after[path] == who
    me = f":{os.getpid()}"
    assert sum(who.endswith(me) for who in after.values()) == 6 - len(before)
    fresh = experiment(table, **settings).run()
    pd.testing.assert_frame_equal(resumed.table, fresh.table)
    pd.testing.assert_frame_equal(resumed.provenance, fresh.provenance)


class FailingSynthesizer(IndependentSynthesizer):
    """Fails whenever it is asked to train on more than ``limit`` rows."""

    def __init__(self, *, limit: int = 10**9, seed: int | None = None):
        super().__init__(seed=seed)
        self.limit = limit

    def _fit(self, matrix, rng):
        if len(matrix) > self.limit:
            raise RuntimeError(f"<b>too many rows</b>: {len(matrix)}")
        super()._fit(matrix, rng)


def test_a_failed_generation_is_recorded_and_the_rest_goes_on(table, tmp_path):
    res = experiment(table, synthesizer=FailingSynthesizer(limit=200)).run()
    failed = res.failures
    # accumulate trains on 360 rows at generation 1: it fails there, replace never does
    assert set(failed["strategy"]) == {"accumulate"}
    assert failed["generation"].tolist() == [1, 1]
    assert failed["error"].str.contains("RuntimeError: <b>too many rows</b>: 360").all()
    assert res.table[res.table["strategy"] == "replace"]["generation"].max() == 2
    assert res.table[res.table["strategy"] == "accumulate"]["generation"].max() == 0
    assert any("failed" in line for line in res.summary())
    html = res.to_html(tmp_path / "report.html").read_text()
    assert "&lt;b&gt;too many rows&lt;/b&gt;" in html and "<b>too many" not in html


def test_fresh_gets_a_smaller_default_size(table):
    plan = experiment(table, strategy="fresh:0.5,replace", generations=3).plan()
    assert plan.sample_size == 90  # 180 real rows = 90 + 2 generations x 45 new rows


def test_the_plan_is_typed_and_frozen(table):
    plan = experiment(table, strategy="mix:0.5,replace", seeds=[4, 2]).plan()
    assert isinstance(plan, Plan)
    assert [s.spec for s in plan.strategies] == ["mix:0.5", "replace"]
    assert plan.seeds == (4, 2) and plan.generations == 3 and plan.metrics == tuple(METRICS)
    assert len(plan.train) == 180 and len(plan.holdout) == 60
    assert plan.synthesizer == {"cls": "independent", "params": {}}
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.sample_size = 3
    config = plan.config()
    assert config["strategies"] == ["mix:0.5", "replace"] and config["seeds"] == [4, 2]
    assert config["sample_size"] == plan.sample_size and config["train_rows"] == 180
    assert "Bertrand" in config["citations"]["mix:0.5"]
    assert {"colour", "member"} <= set(config["categorical_frequencies"])


def test_generation_records_round_trip_their_checkpoint_form(table, tmp_path):
    experiment(table).run(checkpoint_dir=tmp_path)
    folder = trajectory_dir(tmp_path, "accumulate", 1)
    raw = json.loads((generation_dir(folder, 2) / RECORD).read_text())
    record = GenerationRecord.from_dict(raw)
    assert (record.generation, record.strategy, record.seed, record.ok) == (
        2,
        "accumulate",
        1,
        True,
    )
    assert [s.generation for s in record.provenance] == [None, 0, 1]
    assert record.train_rows == sum(s.rows for s in record.provenance) == 3 * 180
    assert {score.metric for score in record.scores} == set(METRICS)
    assert set(record.seconds) == {"strategy", "fit", "sample", "evaluate"}
    assert record.to_dict() == raw
    assert GenerationRecord.from_dict(record.to_dict()) == record
    failed = GenerationRecord(0, "replace", 3, status="failed", error="ValueError: x")
    assert not failed.ok and GenerationRecord.from_dict(failed.to_dict()) == failed
    assert read_records(folder, 3) == [
        GenerationRecord.from_dict(json.loads((generation_dir(folder, g) / RECORD).read_text()))
        for g in range(3)
    ]


def test_a_result_folder_round_trips(result, tmp_path):
    paths = result.save(tmp_path / "out")
    assert set(paths) == set(LAYOUT)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(LAYOUT.values())
    back = CollapseResult.load(tmp_path / "out")
    pd.testing.assert_frame_equal(back.table, result.table)
    pd.testing.assert_frame_equal(back.provenance, result.provenance)
    pd.testing.assert_frame_equal(back.metrics, result.metrics)
    assert back.config == json.loads(json.dumps(result.config))
    assert back.summary() == result.summary()
    plain = pd.read_parquet(paths["provenance"])
    assert plain["rows"].tolist() == result.provenance["rows"].tolist()
    assert len(pd.read_parquet(paths["generations"])) == len(result.generations) == 12
    without = result.save(tmp_path / "bare", report=False)
    assert "report" not in without and not (tmp_path / "bare" / "report.html").exists()
    with pytest.raises(FileFormatError, match="no collapse result"):
        CollapseResult.load(tmp_path)


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        (dict(strategy="mix:1.5"), ParameterError, r"\[0, 1\]"),
        (dict(strategy="replace,replace"), ParameterError, "repeats"),
        (dict(holdout=0.999), CollapseError, "holdout"),
        (dict(holdout=1.5), ParameterError, "holdout"),
        (dict(generations=0), ParameterError, "generations"),
        (dict(seeds=0), ParameterError, "seeds"),
        (dict(seeds=[1, 1]), ParameterError, "seeds"),
        (dict(synthesizer="no-such-model"), ParameterError, "unknown synthesizer"),
        (dict(synthesizer=("independent", {"depth": 3})), ParameterError, "depth"),
        (dict(metrics=["no_such_metric"]), ParameterError, "unknown metrics"),
        (dict(target="missing"), ParameterError, "target"),
        (dict(sample_size=500), CollapseError, "sample_size"),
        (dict(strategy="fresh:1", sample_size=150), CollapseError, "sample_size"),
        (dict(holdout=make_table(20).drop(columns="colour")), DataError, "columns"),
    ],
)
def test_bad_parameters(table, overrides, error, match):
    with pytest.raises(error, match=match):
        experiment(table, **overrides).plan()


def test_workers_must_be_positive(table):
    with pytest.raises(ParameterError, match="workers"):
        experiment(table).run(workers=0)


def test_checkpoint_folder_must_be_empty_or_a_run(table, tmp_path):
    (tmp_path / "other.txt").write_text("hello")
    with pytest.raises(CollapseError, match="not empty"):
        experiment(table).run(checkpoint_dir=tmp_path)


def test_default_metrics_follow_the_registry():
    from ouroboros import metrics

    names = default_metrics()
    assert names and set(names) <= set(metrics.names())
    categories = {metrics.get(n).category for n in names}
    assert {"collapse", "diversity", "detection"} <= categories
    assert not any("target" in metrics.get(n).requires for n in names)
    assert any("target" in metrics.get(n).requires for n in default_metrics("member"))


def test_progress_reports_every_generation(table):
    seen = []
    experiment(table, generations=2, seeds=1).run(progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (4, 4)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.slow
def test_two_workers_give_the_numbers_of_one(table, result):
    parallel = experiment(table).run(workers=2)
    pd.testing.assert_frame_equal(parallel.table, result.table)


def test_every_column_kind_survives_the_loop(mixed_table, tmp_path):
    exp = CollapseExperiment(
        "gaussian_copula",
        mixed_table,
        holdout=0.3,
        generations=2,
        strategy="accumulate-subsample,fresh:0.2",
        seeds=1,
        metrics=["category_coverage", "missing_rate_similarity"],
    )
    res = exp.run(checkpoint_dir=tmp_path / "ck")
    assert len(res.failures) == 0, res.failures["error"].tolist()
    sample = pd.read_parquet(
        trajectory_dir(tmp_path / "ck", "fresh:0.2", 0) / "gen-001" / "sample.parquet"
    )
    assert list(sample.columns) == list(mixed_table.columns)
    resumed = exp.run(checkpoint_dir=tmp_path / "ck", resume=True)
    pd.testing.assert_frame_equal(resumed.table, res.table)


@pytest.mark.slow
def test_adult_collapses_under_replace_not_accumulate(shared_datasets):
    adult = pd.read_csv(shared_datasets / "adult.csv.gz").drop(columns="split")
    adult = adult.sample(2500, random_state=0).reset_index(drop=True)
    res = CollapseExperiment(
        "gaussian_copula",
        adult.iloc[:1500],
        holdout=adult.iloc[1500:],
        generations=5,
        strategy="replace,accumulate",
        seeds=1,
        metrics=["coverage", "tstr_ratio"],
        target="income",
    ).run()
    last = res.table[res.table["generation"] == 4].pivot_table(
        index="metric", columns="strategy", values="value"
    )
    first = res.table[res.table["generation"] == 0].groupby("metric")["value"].mean()
    for metric in ("coverage", "tstr_ratio"):
        assert first[metric] - last.loc[metric, "replace"] > 0.05
        assert (
            abs(first[metric] - last.loc[metric, "accumulate"])
            < first[metric] - last.loc[metric, "replace"]
        )


def test_ceilings_are_computed_once_and_equal_a_fresh_evaluation(table, tmp_path):
    from ouroboros import metrics

    train, holdout = table.iloc[:180].reset_index(drop=True), table.iloc[180:]
    experiment(train, holdout=holdout.reset_index(drop=True)).run(checkpoint_dir=tmp_path)
    folder = trajectory_dir(tmp_path, "replace", 1)
    records = [json.loads((generation_dir(folder, g) / RECORD).read_text()) for g in range(3)]
    ceilings = [{s["metric"]: s["ceiling"] for s in r["scores"]} for r in records]
    assert ceilings[0] == ceilings[1] == ceilings[2]
    sample = pd.read_parquet(generation_dir(folder, 2) / "sample.parquet")
    fresh = metrics.evaluate(train, sample, holdout=holdout, metrics=METRICS).scores()
    assert dict(zip(fresh["metric"], fresh["ceiling"], strict=True)) == pytest.approx(ceilings[2])
