"""Shared fixtures: seeds, small tables, the real datasets folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ouroboros.testing import contract_table

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a module: tiny networks train fastest so, and CI machines
    are shared."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="session")
def _watermark_key(tmp_path_factory: pytest.TempPathFactory):
    """Every test (and fixture, of any scope) samples with one fixed watermark key, and no
    test writes a key file into the real home (``$OURO_HOME`` is a temporary folder), nor
    (from a fixture of wider scope) a table's record into the working folder's runs.db."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OURO_WATERMARK_KEY", "ouroboros-test-suite")
        patch.setenv("OURO_HOME", str(tmp_path_factory.mktemp("ouro-home")))
        shared = tmp_path_factory.mktemp("shared-catalog") / "runs.db"
        patch.setenv("OUROBOROS_STORE", f"sqlite:///{shared}")
        yield


@pytest.fixture(autouse=True)
def _lineage_catalog(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test has a lineage catalog (the default run store) of its own, so that what
    `ouro sample` keeps there never reaches another test or the working folder's runs.db."""
    folder = tmp_path_factory.mktemp("catalog")
    monkeypatch.setenv("OUROBOROS_STORE", f"sqlite:///{folder / 'runs.db'}")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def mixed_table() -> pd.DataFrame:
    """Every column kind, a few hundred rows."""
    return contract_table(300, seed=1)


@pytest.fixture
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip("../shared/datasets is not available")
    return SHARED_DATASETS
