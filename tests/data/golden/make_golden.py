"""Write the golden model files of the current format version, or re-record their rows.

    .venv/bin/python tests/data/golden/make_golden.py             # new format version
    .venv/bin/python tests/data/golden/make_golden.py --resample  # sampler deliberately changed

A model file is never overwritten: it proves that files written by its version still
load. ``--resample`` re-records only the rows the committed files draw with a fixed
seed, for a release whose sampler changed on purpose (say so in the release notes).
"""

import sys
from pathlib import Path

from ouroboros import synthesizers
from ouroboros.io import write_table
from ouroboros.synthesizers import Synthesizer
from ouroboros.synthesizers.modelfile import FORMAT_VERSION
from ouroboros.testing import contract_table

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    if "--resample" in sys.argv[1:]:
        for model_path in sorted(HERE.glob("*.ouro")):
            rows = Synthesizer.load(model_path).sample(40, seed=3)
            write_table(rows, model_path.with_suffix(".sample.parquet"))
        raise SystemExit(0)
    for name in ("independent", "gaussian_copula"):
        model_path = HERE / f"{name}-v{FORMAT_VERSION}.ouro"
        if model_path.exists():
            raise SystemExit(f"{model_path} exists; golden files are never rewritten")
        model = synthesizers.create(name, seed=0).fit(contract_table(120, seed=5))
        model.save(model_path)
        write_table(model.sample(40, seed=3), model_path.with_suffix(".sample.parquet"))
