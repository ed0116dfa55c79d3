"""Which columns give each generator's rows away: the detection metric's attribution.

Reads the synthetic tables `bench/quality.py` left in its work folder and, for each,
reports our detection AUC (gradient boosting, real training rows against as many
synthetic rows) and the three columns whose shuffling lowers it most.

    python bench/quality.py --datasets adult ...    # first, to write the samples
    python bench/attribution.py --generators tabddpm,argn,ctgan,tvae,gaussian_copula
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd
from _results import machine, markdown_table, write_section

from ouroboros.metrics import evaluate


def attribution(train: pd.DataFrame, synth: pd.DataFrame) -> dict:
    scores = evaluate(
        train, synth, metrics=["detection_auc", "detection_attribution"], ceilings=False
    )
    rows = scores["detection_attribution"].rows
    top = ", ".join(f"{row['column']} {row['value']:.3f}" for row in rows[:3])
    return {"detection AUC": round(scores["detection_auc"].value, 3), "top columns": top}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generators", default="tabddpm,argn,ctgan,tvae,gaussian_copula")
    parser.add_argument("--dataset", default="adult")
    parser.add_argument("--workdir", default="/tmp/ouroboros-bench-quality")
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args()
    folder = Path(args.workdir) / args.dataset
    train = pd.read_csv(folder / "train.csv")
    rows = []
    for name in args.generators.split(","):
        synth = pd.read_csv(folder / f"{name}.csv")[train.columns]
        rows.append({"generator": name, **attribution(train, synth)})
        print(rows[-1], flush=True)
    table = markdown_table(rows)
    print(table)
    if not args.no_results:
        body = (
            f"## Which columns give the rows away ({args.dataset})\n\n"
            f"Command: `python bench/attribution.py --generators {args.generators}`; "
            f"{machine()}; load {os.getloadavg()[0]:.2f}. Samples from `bench/quality.py`. "
            "Top columns: the drop in detection AUC when the column is shuffled "
            "(`detection_attribution`).\n\n"
            f"{table}\n"
        )
        write_section(f"attribution-{args.dataset}", body)


if __name__ == "__main__":
    main()
