"""Regenerate the golden model files (only when the model file format version changes).

    .venv/bin/python tests/data/golden/make_golden.py

Never overwrite an existing version's files: they prove that files written by
that version still load. Add files for the new version next to them.
"""

from pathlib import Path

from ouroboros import synthesizers
from ouroboros.io import write_table
from ouroboros.synthesizers.modelfile import FORMAT_VERSION
from ouroboros.testing import contract_table

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    for name in ("independent", "gaussian_copula"):
        model_path = HERE / f"{name}-v{FORMAT_VERSION}.ouro"
        if model_path.exists():
            raise SystemExit(f"{model_path} exists; golden files are never rewritten")
        model = synthesizers.create(name, seed=0).fit(contract_table(120, seed=5))
        model.save(model_path)
        write_table(model.sample(40, seed=3), HERE / f"{name}-v{FORMAT_VERSION}.sample.parquet")
