"""Verifiers for the ``curate`` strategy: score synthetic rows by how realistic they look."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold

from ouroboros.values import datetime_seconds

#: categorical columns with more levels than this are fed as frequency-ranked codes
_MAX_NATIVE_LEVELS = 250


def _encode(frames: list[pd.DataFrame]) -> tuple[list[np.ndarray], np.ndarray]:
    """Encode tables with the same columns as float matrices for gradient boosting.

    Numbers stay numbers (datetimes become seconds), missing values stay NaN; any other
    column becomes integer codes shared by all tables, marked categorical unless it has
    too many levels. Returns the matrices and the categorical-column mask.
    """
    columns = frames[0].columns
    blocks: list[list[np.ndarray]] = [[] for _ in frames]
    categorical = []
    for column in columns:
        series = [frame[column] for frame in frames]
        if all(pd.api.types.is_datetime64_any_dtype(s) for s in series):
            values = [datetime_seconds(s) for s in series]
            native = False
        elif all(
            pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) for s in series
        ):
            values = [s.to_numpy(dtype="float64", na_value=np.nan) for s in series]
            native = False
        else:
            text = [s.astype("string") for s in series]
            levels = pd.concat(text, ignore_index=True).value_counts().index
            values = []
            for s in text:
                codes = pd.Categorical(s, categories=levels).codes.astype("float64")
                codes[codes < 0] = np.nan
                values.append(codes)
            native = len(levels) <= _MAX_NATIVE_LEVELS
        for block, value in zip(blocks, values, strict=True):
            block.append(value)
        categorical.append(native)
    matrices = [np.column_stack(block) if block else np.zeros((0, 0)) for block in blocks]
    return matrices, np.asarray(categorical, dtype=bool)


class Discriminator:
    """Score candidate rows by a classifier's out-of-fold probability of being real.

    A gradient-boosted classifier learns real versus candidate rows; each candidate is
    scored by a model that never saw it (k-fold), so the most realistic rows rank first
    (the verifier of Feng et al. 2024, "Beyond Model Collapse", as a real-vs-synthetic
    discriminator).
    """

    def __init__(self, folds: int = 3, max_iter: int = 100):
        self.folds = folds
        self.max_iter = max_iter

    def __call__(
        self, real: pd.DataFrame, candidates: pd.DataFrame, rng: np.random.Generator
    ) -> np.ndarray:
        (x_real, x_cand), categorical = _encode([real, candidates[real.columns]])
        x = np.vstack([x_real, x_cand])
        y = np.r_[np.ones(len(x_real)), np.zeros(len(x_cand))]
        scores = np.empty(len(x_cand))
        seed = int(rng.integers(2**31 - 1))
        splits = StratifiedKFold(self.folds, shuffle=True, random_state=seed).split(x, y)
        for train, test in splits:
            model = HistGradientBoostingClassifier(
                max_iter=self.max_iter,
                categorical_features=categorical if categorical.any() else None,
                random_state=seed,
            )
            model.fit(x[train], y[train])
            held = test[test >= len(x_real)]
            scores[held - len(x_real)] = model.predict_proba(x[held])[:, 1]
        return scores
