"""Causal benchmark: interventional accuracy on simulated SCMs, quality and fairness on Adult.

Part 1, simulated structural causal models (``ouroboros.causal.simulate``: mixed types,
nonlinear links, confounders of treatment and outcome). For each, the average treatment
effect of ``do(treatment)`` and the distance of the interventional outcome distribution
from the truth, given by ``causal`` with the true graph, ``causal`` with the graph PC
discovers (alone, and with the roots in a first tier and the outcome in the last), and by the correlational
generators ``gaussian_copula`` and ``tabddpm`` where the intervention is faked by
conditioning on the treatment (for a shifted numeric dose, by the slope of the outcome on
the dose). Every estimate is repeated on ``--reps`` fresh training sets; its spread is the
sampling error the truth is compared with.

Part 2, Adult: fidelity and detection AUC of ``causal`` (discovered graph, demographic tier
first, income last) beside the other generators, then the fairness table: a classifier trained on each
synthetic table (and on real data) and scored on real test rows for accuracy, demographic
parity and equalised-odds gaps between the sexes and the accuracy lost against a classifier
trained on real rows (the utility cost), with ``causal`` under
``fair={"sensitive": "sex", "target": "income"}`` (every causal path cut, as DECAF does).

    python bench/causal.py                 # about 4 minutes on 2 quiet cores, 14 beside other runs
    python bench/causal.py --part adult    # one part; --no-results prints only
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from _results import machine, markdown_table, write_section
from scipy.stats import ks_2samp

from ouroboros import metrics, synthesizers
from ouroboros.causal.simulate import SCM, scenarios

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "adult.csv.gz"
ROWS, DRAWS = 3000, 20_000
DEMOGRAPHIC = ["age", "sex", "race", "native-country"]


# --------------------------------------------------------------------------- part 1
def _distance(scm: SCM, got: pd.Series, truth: pd.Series) -> float:
    """KS distance of a numeric outcome, total variation of a categorical one."""
    if scm.positive is None:
        return float(ks_2samp(got.to_numpy(float), truth.to_numpy(float)).statistic)
    p, q = got.value_counts(normalize=True), truth.value_counts(normalize=True)
    return float(0.5 * p.subtract(q, fill_value=0).abs().sum())


def _interventional(model, scm: SCM, seed: int) -> tuple[float, pd.DataFrame]:
    treated = model.sample(DRAWS, seed=seed, interventions={scm.treatment: scm.treated})
    control = model.sample(DRAWS, seed=seed, interventions={scm.treatment: scm.control})
    return scm.outcome_mean(treated) - scm.outcome_mean(control), treated


def _conditioned(model, scm: SCM, seed: int) -> tuple[float, pd.DataFrame | None]:
    """The effect a correlational generator gives when do() is faked by conditioning
    (``tabddpm``, whose draws are slow, draws a quarter as many rows)."""
    draws = DRAWS // (4 if model.name == "tabddpm" else 1)
    if _shifted(scm):
        return _slope(scm, model.sample(draws, seed=seed)), None
    treated = model.sample(draws // 4, seed=seed, conditions={scm.treatment: scm.treated})
    control = model.sample(draws // 4, seed=seed, conditions={scm.treatment: scm.control})
    return scm.outcome_mean(treated) - scm.outcome_mean(control), treated


def _shifted(scm: SCM) -> bool:
    return isinstance(scm.treated, str) and scm.treated[:1] in "+-"


def _slope(scm: SCM, table: pd.DataFrame) -> float:
    """The outcome's regression slope on the dose, times the shift compared."""
    slope = np.polyfit(table[scm.treatment], table[scm.outcome], 1)[0]
    return float(slope) * (float(scm.treated) - float(scm.control))


def _naive_effect(scm: SCM) -> float:
    """What conditioning on the treatment gives on the true SCM itself (confounding bias)."""
    table = scm.sample(200_000, np.random.default_rng(98))
    if _shifted(scm):
        return _slope(scm, table)
    arm = table[scm.treatment]
    return scm.outcome_mean(table[arm == scm.treated]) - scm.outcome_mean(table[arm == scm.control])


def _graph_errors(found, truth) -> tuple[int, str]:
    """The structural Hamming distance of ``found`` from ``truth``, and its edges in words."""
    truth, found = set(truth), set(found)
    reversed_ = {(a, b) for a, b in found - truth if (b, a) in truth}
    missing = truth - found - {(b, a) for a, b in reversed_}
    extra = found - truth - reversed_
    distance = len(missing) + len(extra) + len(reversed_)
    return distance, (
        f"SHD {distance}: missing {sorted(missing)}, reversed {sorted(reversed_)}, "
        f"extra {sorted(extra)}"
    )


def _generators(scm: SCM, tabddpm_epochs: int) -> dict[str, tuple[Callable, bool]]:
    """Name -> (factory(seed), causal?) for one scenario. The tiers are what a user knows
    without the graph: which columns are causes of all the others, and that the outcome
    comes last."""
    roots = [name for name, _ in scm.equations if all(child != name for _, child in scm.edges)]
    middle = [name for name, _ in scm.equations if name not in roots and name != scm.outcome]
    return {
        "causal (true graph)": (
            lambda s: synthesizers.create("causal", seed=s, dag=list(scm.edges)),
            True,
        ),
        "causal (PC)": (lambda s: synthesizers.create("causal", seed=s), True),
        "causal (PC + tiers)": (
            lambda s: synthesizers.create("causal", seed=s, tiers=[roots, middle, [scm.outcome]]),
            True,
        ),
        "gaussian_copula": (lambda s: synthesizers.create("gaussian_copula", seed=s), False),
        "tabddpm": (lambda s: synthesizers.create("tabddpm", seed=s, epochs=tabddpm_epochs), False),
    }


def _measure(scm: SCM, name: str, factory: Callable, causal: bool, runs: int, notes: list) -> dict:
    """One generator on one scenario, over ``runs`` fresh training sets."""
    truth = scm.true_effect()
    true_do = scm.sample(DRAWS, np.random.default_rng(99), {scm.treatment: scm.treated})
    effects, distances, seconds, shd = [], [], 0.0, []
    for rep in range(runs):
        train = scm.sample(ROWS, np.random.default_rng(rep))
        start = time.perf_counter()
        model = factory(rep).fit(train)
        effect, treated = (_interventional if causal else _conditioned)(model, scm, rep)
        seconds += time.perf_counter() - start
        effects.append(effect)
        if treated is not None:
            distances.append(_distance(scm, treated[scm.outcome], true_do[scm.outcome]))
        if causal and "PC" in name:
            shd.append((*_graph_errors(model.graph_.edges, scm.edges), effect - truth, rep))
    if shd:
        worst = max(shd, key=lambda got: abs(got[2]))
        notes.append(
            f"{scm.name}, {name}: SHD per training set {[d for d, *_ in shd]}; the farthest "
            f"effect (error {worst[2]:+.3f}, training set {worst[3]}) came from {worst[1]}"
        )
    spread = float(np.std(effects, ddof=1)) if runs > 1 else float("nan")
    error = float(np.mean(effects)) - truth
    return {
        "scenario": scm.name,
        "generator": name,
        "true ATE": truth,
        "estimate (mean)": float(np.mean(effects)),
        "sd over reps": spread,
        "error": error,
        "error / s.e.": error / (spread / np.sqrt(runs)) if runs > 1 else float("nan"),
        "do-distribution distance": float(np.mean(distances)) if distances else float("nan"),
        "graph SHD (mean)": (
            float(np.mean([d for d, *_ in shd])) if shd else (0.0 if causal else float("nan"))
        ),
        "seconds per fit+draw": seconds / runs,
    }


def simulated(reps: int, tabddpm_epochs: int) -> tuple[list[dict], list[str]]:
    rows, notes = [], []
    for scm in scenarios().values():
        notes.append(
            f"{scm.name}: true effect {scm.true_effect():.3f}; conditioning on the true SCM "
            f"gives {_naive_effect(scm):.3f}"
        )
        for name, (factory, causal) in _generators(scm, tabddpm_epochs).items():
            runs = 1 if name == "tabddpm" else reps
            try:
                rows.append(_measure(scm, name, factory, causal, runs, notes))
            except Exception as exc:  # a broken generator is reported, not fatal
                notes.append(f"{scm.name}, {name}: failed: {exc!r}")
                continue
            print(rows[-1], flush=True)
    return rows, notes


# --------------------------------------------------------------------------- part 2
def _adult(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` training rows and ``n`` test rows of Adult's classic split (disjoint seeds give
    disjoint test draws only by chance, which is fine for a ceiling)."""
    table = pd.read_csv(DATA)
    train = table[table["split"] == "train"].drop(columns="split")
    test = table[table["split"] == "test"].drop(columns="split")
    return (
        train.sample(n, random_state=seed).reset_index(drop=True),
        test.sample(n, random_state=seed + 1).reset_index(drop=True),
    )


def _gaps(train: pd.DataFrame, tests: list[pd.DataFrame]) -> list[dict[str, float]]:
    """A classifier of income trained on ``train``; on each test table, its accuracy and
    the demographic parity and equalised-odds gaps between men and women."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    features = [c for c in train.columns if c != "income"]
    both = pd.concat([t[features] for t in (train, *tests)], keys=range(len(tests) + 1))
    for column in both.columns:
        if not pd.api.types.is_numeric_dtype(both[column]):
            both[column] = both[column].astype("category").cat.codes
    labels = [t["income"].astype(str).str.startswith(">").to_numpy() for t in (train, *tests)]
    model = HistGradientBoostingClassifier(random_state=0).fit(both.loc[0], labels[0])
    out = []
    for k, test in enumerate(tests, start=1):
        predicted, y = model.predict(both.loc[k]), labels[k]
        men = (test["sex"] == "Male").to_numpy()
        odds = max(
            abs(predicted[men & (y == v)].mean() - predicted[~men & (y == v)].mean())
            for v in (False, True)
        )
        parity = abs(predicted[men].mean() - predicted[~men].mean())
        out.append(
            {
                "accuracy": float((predicted == y).mean()),
                "DP gap": float(parity),
                "EO gap": float(odds),
            }
        )
    return out


def _fairness_row(name: str, train: pd.DataFrame, test: pd.DataFrame, own: pd.DataFrame) -> dict:
    """Gaps on real test rows, and on fresh rows of the same source (the world it describes)."""
    real, same = _gaps(train, [test, own])
    return {
        "trained on": name,
        **{f"{k} (real test)": v for k, v in real.items()},
        "utility cost": 0.0,
        **{f"{k} (own rows)": v for k, v in same.items()},
    }


def adult(tabddpm_epochs: int, n: int = 5000) -> tuple[list[dict], list[dict], str]:
    train, test = _adult(n)
    rest = [c for c in train.columns if c not in (*DEMOGRAPHIC, "income")]
    made = {
        "causal": synthesizers.create("causal", seed=0, tiers=[DEMOGRAPHIC, rest, ["income"]]),
        "gaussian_copula": synthesizers.create("gaussian_copula", seed=0),
        "tabddpm": synthesizers.create("tabddpm", seed=0, epochs=tabddpm_epochs),
    }
    tables, own, seconds, failures = {}, {}, {}, []
    for name, model in made.items():
        start = time.perf_counter()
        try:
            tables[name] = model.fit(train).sample(n, seed=1)
            own[name] = model.sample(n, seed=2)  # fresh rows of the same generator
        except Exception as exc:  # a broken generator is reported, not fatal
            failures.append(f"{name}: failed: {exc!r}")
            continue
        seconds[name] = time.perf_counter() - start
    made["causal"].set_params(fair={"sensitive": "sex", "target": "income"})
    tables["causal, fair"] = made["causal"].sample(n, seed=1)
    own["causal, fair"] = made["causal"].sample(n, seed=2)
    seconds["causal, fair"] = seconds["causal"]
    chosen = [
        "ks_complement",
        "tv_complement",
        "correlation_similarity",
        "contingency_similarity",
        "detection_auc",
    ]
    holdout = _adult(n, seed=2)[1]
    quality, fairness = [], [_fairness_row("real", train, test, holdout)]
    ceiling = fairness[0]["accuracy (real test)"]
    seconds["real test rows (ceiling)"] = 0.0
    for name, table in {**tables, "real test rows (ceiling)": holdout}.items():
        scores = metrics.evaluate(
            train, table, holdout=test, metrics=chosen, ceilings=False
        ).scores()
        quality.append(
            {
                "generator": name,
                **dict(zip(scores["metric"], scores["value"], strict=True)),
                "seconds (fit+sample)": seconds[name],
            }
        )
        if table is not holdout:
            fairness.append(_fairness_row(name, table, test, own[name]))
            fairness[-1]["utility cost"] = ceiling - fairness[-1]["accuracy (real test)"]
        print(quality[-1], fairness[-1], flush=True)
    graph = ", ".join(f"{a}→{b}" for a, b in made["causal"].graph_.edges if b == "income")
    return (
        quality,
        fairness,
        "; ".join([f"parents of income in the discovered graph: {graph}", *failures]),
    )


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def _simulated_section(args: argparse.Namespace) -> str:
    start, load = time.perf_counter(), _load()
    sim, notes = simulated(args.reps, args.tabddpm_epochs)
    return "\n\n".join(
        [
            "## Causal generation: simulated SCMs (`bench/causal.py`)",
            f"`python bench/causal.py --part simulated --tabddpm-epochs {args.tabddpm_epochs}` "
            f"on {machine()}, {time.perf_counter() - start:.0f} s ({load} at the start, "
            f"{_load()} at the end: timings are under that load, the rest is not). {ROWS} "
            f"training rows per SCM, {args.reps} fresh training sets (tabddpm: one), {DRAWS} "
            f"draws per arm ({DRAWS // 4} when conditioning, tabddpm {DRAWS // 16}). "
            "`error / s.e.` divides the error of the mean estimate by its "
            "standard error (the sd over training sets over the square root of their number): "
            "within ±2 is within sampling error. `causal (PC + tiers)` knows only the roots "
            "(a first tier) and that the outcome comes last; the correlational generators fake "
            "do() by conditioning (a shifted dose: by the regression slope of the outcome).",
            markdown_table(sim),
            "\n".join(f"- {note}" for note in notes),
        ]
    )


def _adult_section(args: argparse.Namespace) -> str:
    start, load = time.perf_counter(), _load()
    quality, fairness, adult_notes = adult(args.tabddpm_epochs)
    return "\n\n".join(
        [
            "## Causal generation: Adult quality and fairness (`bench/causal.py`)",
            f"`python bench/causal.py --part adult --tabddpm-epochs {args.tabddpm_epochs}` on "
            f"{machine()}, {time.perf_counter() - start:.0f} s ({load} at the start, {_load()} "
            "at the end). 5,000 training rows, 5,000 real test rows; `causal` discovers its "
            "graph with the demographic columns as a first tier and income last.",
            markdown_table(quality),
            f"{adult_notes}.",
            "A boosting classifier of income is trained on each table and scored on the real "
            "test rows and on fresh rows of its own source: DP gap = |P(>50K predicted | men) − "
            "P(>50K predicted | women)|, EO gap = the larger of the true- and false-positive rate "
            "gaps between the sexes, utility cost = accuracy lost on the real test rows against "
            "the classifier trained on real rows.",
            markdown_table(fairness),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["all", "simulated", "adult"], default="all")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--tabddpm-epochs", type=int, default=10)
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args()
    sections = {"causal": _simulated_section, "causal-adult": _adult_section}
    for name, make in sections.items():
        if args.part in ("all", "simulated" if name == "causal" else "adult"):
            body = make(args)
            print(body, flush=True)
            if not args.no_results:
                write_section(name, body)


if __name__ == "__main__":
    main()
