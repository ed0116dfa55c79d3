"""DP-SGD generators on Adult, and the shadow-model membership attack on outliers.

Part 1: ``tvae``, ``tabddpm`` and ``ctgan`` with ``dp=True`` at ``--epsilons`` (delta
1e-6), beside the same settings without DP and ``independent`` (no privacy, no
dependence). The schema detected on the training split is given as public knowledge
(bounds and categories declared public, as ``bench/privacy.py`` does with private-pgm's
domain), so the budget goes to the row count, the noisy one-way marginals the networks
start from (``marginals_share``) and DP-SGD. Figures: mean one-way and two-way total
variation on bench/privacy_data.py's discretisation of Adult, SDMetrics quality (in
the peer interpreter, see ``bench/peers.py``), gradient-boosting detection AUC and
train-synthetic-test-real macro F1 on ``income`` (both from ``bench/quality.py``), fit
time, DP-SGD steps, epsilon spent.

Part 2: the membership attack of :func:`ouroboros.metrics.attacks_mia.membership_inference`
on the most isolated rows (``--targets``) of a small Adult sample, against ``tabddpm``
without DP, trained long on few rows so that it memorises (:data:`ATTACK`), and with
``dp=True`` at epsilon 1: AUC, advantage and the empirical epsilon lower bound, over
``--shadows`` shadow fits each. Shadows are small (a few hundred rows) to fit the
machine.

    .venv/bin/python bench/privacy_dpsgd.py [--quick] [--part fits|attack|both]
        [--epsilons 0.5,1,3,10] [--generators tvae,tabddpm,ctgan] [--rows N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, write_section  # noqa: E402
from peers import peer_python  # noqa: E402
from privacy_data import load as load_codes  # noqa: E402
from privacy_data import two_way_tv  # noqa: E402
from quality import detection_auc, load_split, utility_score  # noqa: E402

from ouroboros.metrics.attacks_mia import membership_inference, outlier_targets  # noqa: E402
from ouroboros.schema import Schema  # noqa: E402
from ouroboros.synthesizers import registry  # noqa: E402

EPSILONS = (0.5, 1.0, 3.0, 10.0)
#: the settings of part 1: DP-SGD pays per step, so few, large Poisson batches (with
#: ghost clipping), a high learning rate and small networks; the time budget stops a
#: fit on a loaded machine early (it then spends less)
SETTINGS = {
    "tvae": {
        "epochs": 8, "batch_size": 4000, "width": 64, "layers": 1, "latent_dim": 32,
        "learning_rate": 0.01, "kl_weight": 0.1, "marginals_share": 0.3, "time_budget": 150,
    },
    "tabddpm": {
        "epochs": 8, "batch_size": 4000, "width": 128, "layers": 2, "time_dim": 64,
        "steps": 100, "sample_steps": 25, "learning_rate": 0.01, "marginals_share": 0.3,
        "time_budget": 150,
    },
    "ctgan": {"epochs": 3, "batch_size": 500, "time_budget": 150},
}  # fmt: skip
#: what only the DP fits take (the non-DP rows share the rest of the settings)
DP_ONLY = ("marginals_share",)
EVAL_ROWS = 5_000
TITLES = {
    "fits": "DP-SGD generators on Adult",
    "attack": "Shadow-model membership attack, DP against non-DP tabddpm",
    "both": "DP-SGD generators and the membership attack",
}


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def sdmetrics_quality(real, synthetic) -> float:
    """SDMetrics' QualityReport score, computed in the peer interpreter."""
    with tempfile.TemporaryDirectory() as folder:
        paths = {k: Path(folder) / f"{k}.csv" for k in ("real", "synth", "result")}
        real.to_csv(paths["real"], index=False)
        synthetic.to_csv(paths["synth"], index=False)
        script = Path(__file__).resolve().parent / "quality.py"
        cmd = [peer_python(), str(script), "_quality", "--real", str(paths["real"])]
        cmd += ["--synth", str(paths["synth"]), "--result", str(paths["result"])]
        subprocess.run(cmd, check=True, capture_output=True)
        return json.loads(paths["result"].read_text())["quality"]


def one_way_tv(real, synthetic, sizes: dict[str, int]) -> float:
    """Mean total variation between the columns' distributions (codes)."""
    values = []
    for column, size in sizes.items():
        p = np.bincount(real[column], minlength=size) / len(real)
        q = np.bincount(synthetic[column], minlength=size) / len(synthetic)
        values.append(0.5 * np.abs(p - q).sum())
    return float(np.mean(values))


def fit_row(name, epsilon, train, test, schema, settings, disc) -> dict:
    klass = registry.get(name)
    dp = {"dp": True, "epsilon": epsilon, "delta": 1e-6} if epsilon else {}
    if not epsilon:
        settings = {k: v for k, v in settings.items() if k not in DP_ONLY}
    model = klass(seed=0, n_threads=2, **settings, **dp)
    tic = time.perf_counter()
    model.fit(train, schema=schema)
    fit_s = time.perf_counter() - tic
    synthetic = model.sample(len(train), seed=1, watermark=False)
    real_eval = train.sample(min(EVAL_ROWS, len(train)), random_state=0)
    fake_eval = synthetic.sample(min(EVAL_ROWS, len(synthetic)), random_state=0)
    real_codes, fake_codes = disc.encode(train), disc.encode(synthetic)
    privacy = getattr(model, "privacy_", None) or {}
    row = {
        "generator": name,
        "epsilon": epsilon or float("inf"),
        "spent": getattr(model, "epsilon_spent_", float("nan")),
        "noise": privacy.get("noise_multiplier", float("nan")),
        "steps": privacy.get("steps"),
        "1-way TV": one_way_tv(real_codes, fake_codes, disc.sizes),
        "2-way TV": two_way_tv(real_codes, fake_codes, disc.sizes),
        "quality": sdmetrics_quality(real_eval, fake_eval),
        "detection": detection_auc(real_eval, fake_eval),
        "utility": utility_score(synthetic, test, "income", "classification"),
        "fit_s": fit_s,
    }
    print(json.dumps(row), flush=True)
    return row


def part_fits(
    epsilons: tuple[float, ...], n_rows: int | None, names: list[str], publish=None
) -> str:
    train, test = load_split("adult")
    disc, _, _ = load_codes("adult")
    schema = Schema.detect(train)  # declared public: see the module docstring
    if n_rows:
        train = train.sample(min(n_rows, len(train)), random_state=0).reset_index(drop=True)
    rows = [fit_row("independent", None, train, test, None, {}, disc)]
    for name in names:
        for epsilon in (None, *epsilons):
            rows.append(fit_row(name, epsilon, train, test, schema, SETTINGS[name], disc))
            if publish is not None:
                publish(_fits_table(rows, None))
    real = train.sample(min(EVAL_ROWS, len(train)), random_state=0)
    return _fits_table(rows, _ceiling(real, train, test, disc))


def _ceiling(real, train, test, disc) -> dict:
    other = test.sample(EVAL_ROWS, random_state=1)
    real_codes, test_codes = disc.encode(train), disc.encode(test)
    return {
        "generator": "real test (ceiling)",
        "1-way TV": one_way_tv(real_codes, test_codes, disc.sizes),
        "2-way TV": two_way_tv(real_codes, test_codes, disc.sizes),
        "quality": sdmetrics_quality(real, other),
        "detection": detection_auc(real, other),
        "utility": utility_score(train, test, "income", "classification"),
    }


def _fits_table(rows: list[dict], ceiling: dict | None) -> str:
    header = ["generator", "epsilon", "spent", "noise", "steps", "1-way TV", "2-way TV"]
    header += ["quality", "detection", "utility (F1)", "fit s"]
    table = [
        [
            r["generator"],
            "none" if r["epsilon"] == float("inf") else f"{r['epsilon']:g}",
            "" if np.isnan(r["spent"]) else f"{r['spent']:.3f}",
            "" if np.isnan(r["noise"]) else f"{r['noise']:.3f}",
            "" if r["steps"] is None else str(r["steps"]),
            f"{r['1-way TV']:.4f}",
            f"{r['2-way TV']:.4f}",
            f"{r['quality']:.3f}",
            f"{r['detection']:.3f}",
            f"{r['utility']:.3f}",
            f"{r['fit_s']:.0f}",
        ]
        for r in rows
    ]
    if ceiling is not None:
        table.append(
            [ceiling["generator"], "", "", "", ""]
            + [f"{ceiling[k]:.4f}" for k in ("1-way TV", "2-way TV")]
            + [f"{ceiling[k]:.3f}" for k in ("quality", "detection", "utility")]
            + [""]
        )
    return markdown_table(header, table)


#: the attack's shadows: the non-DP model trained long enough to memorise its rows, the
#: DP one at the settings DP-SGD affords (each step pays; see the module docstring)
ATTACK = {
    "leaky": {"epochs": 300, "batch_size": 100, "steps": 200, "sample_steps": 20},
    "dp": {"epochs": 30, "batch_size": 100, "steps": 200, "sample_steps": 20},
}


def _factory(klass, schema, params: dict):
    class Factory:
        def __init__(self, seed: int):
            self.model = klass(seed=seed, n_threads=1, **params)

        def fit(self, table):
            self.model.fit(table, schema=schema)
            return self

        def sample(self, n, seed=None):
            return self.model.sample(n, seed=seed)

    return Factory


HEADER = ["target model", "AUC", "advantage", "epsilon lower bound", "per target AUC", "s"]


def part_attack(n_rows: int, shadows: int, n_targets: int, publish=None) -> str:
    train, _ = load_split("adult")
    sample = train.sample(n_rows, random_state=0).reset_index(drop=True)
    chosen = outlier_targets(sample, n_targets)
    targets, reference = sample.iloc[chosen], sample.drop(sample.index[chosen])
    schema = Schema.detect(sample)
    lines = []
    klass = registry.get("tabddpm")
    runs = (
        ("tabddpm, no DP", ATTACK["leaky"]),
        ("tabddpm, dp=True, epsilon 1", {**ATTACK["dp"], "dp": True, "epsilon": 1.0}),
    )
    for label, params in runs:
        tic = time.perf_counter()
        result = membership_inference(
            _factory(klass, schema, params),
            reference,
            targets,
            n_shadows=shadows,
            train_rows=len(reference) // 2,
        )
        seconds = time.perf_counter() - tic
        print(label, json.dumps(result.to_dict()), flush=True)
        lines.append(
            [
                label,
                f"{result.auc:.3f}",
                f"{result.advantage:.3f}",
                f"{result.epsilon_lower_bound:.2f}",
                " ".join(f"{t['auc']:.2f}" for t in result.targets),
                f"{seconds:.0f}",
            ]
        )
        if publish is not None:
            publish(markdown_table(HEADER, lines))
    return markdown_table(HEADER, lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--part", choices=("fits", "attack", "both"), default="both")
    parser.add_argument("--shadows", type=int, default=32)
    parser.add_argument("--targets", type=int, default=8, help="outliers attacked")
    parser.add_argument("--leak-epochs", type=int, help="epochs of the non-DP shadows")
    parser.add_argument("--leak-batch", type=int, help="batch size of the non-DP shadows")
    parser.add_argument("--rows", type=int, help="Adult training rows fitted (default: all)")
    parser.add_argument("--epsilons", default=",".join(f"{e:g}" for e in EPSILONS))
    parser.add_argument("--attack-rows", type=int, default=600, help="rows of the attack's sample")
    parser.add_argument("--generators", default=",".join(SETTINGS))
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args(argv)
    if args.leak_epochs:
        ATTACK["leaky"]["epochs"] = args.leak_epochs
    if args.leak_batch:
        ATTACK["leaky"]["batch_size"] = args.leak_batch
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    section = "privacy-dpsgd" if args.part == "both" else f"privacy-dpsgd-{args.part}"
    head = (
        f"## {TITLES[args.part]} (`bench/privacy_dpsgd.py`)\n\n"
        f"Command: `.venv/bin/python bench/privacy_dpsgd.py {' '.join(argv or sys.argv[1:])}`; "
        f"{machine()}; timings under load from other work (`uptime` at the start: "
        f"{load}).\n\n"
    )
    parts = []

    def publish(partial: str) -> None:  # a partial table, in case the run is cut short
        if not args.no_results:
            write_section(section, head + "".join(parts) + partial + "\n\n(run in progress)")

    if args.part in ("fits", "both"):
        epsilons = (1.0,) if args.quick else tuple(float(e) for e in args.epsilons.split(","))
        rows = f"{args.rows:,} rows" if args.rows else "all rows"
        parts.append(
            f"DP generators on {rows} of Adult's train split (public schema; settings "
            f"{json.dumps(SETTINGS)}; `{'`, `'.join(DP_ONLY)}` with dp=True only), "
            "scored against the train split (TV on bench/privacy_data.py's codes) and "
            "Adult's test split:\n\n"
        )
        names = args.generators.split(",")
        parts.append(part_fits(epsilons, args.rows, names, publish))
    if args.part in ("attack", "both"):
        parts.append(
            f"\n\nShadow-model membership attack on the {args.targets} most isolated of "
            f"{args.attack_rows} Adult rows ({args.shadows} shadows, each trained on half the "
            "other rows, every target a member of half of them; tabddpm settings "
            f"{json.dumps(ATTACK)}):\n\n"
        )
        parts.append(part_attack(args.attack_rows, args.shadows, args.targets, publish))
    body = head + "".join(parts)
    print(body)
    if not args.no_results:
        write_section(section, body)


if __name__ == "__main__":
    main()
