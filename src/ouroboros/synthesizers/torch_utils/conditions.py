"""Sampling conditions on one-hot columns, including values pooled into "other"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from ouroboros.errors import ConditionError
from ouroboros.transforms import OTHER


def discrete_conditions(
    transformer: Any, conditions: dict[str, Any], predicates: dict[str, Callable]
) -> tuple[dict[str, int], dict[str, Any]]:
    """Block positions to impose for conditions on one-hot columns, and the pooled values.

    A training value pooled into "other" is imposed as "other"; its predicate becomes
    "drew a pooled value" (``predicates`` is updated) and :func:`fill_pooled` then writes
    the value into the kept rows. This is exact for the model, which draws the value
    inside the pool by training frequency, independently of everything else.
    """
    positions, pooled = {}, {}
    discrete = set(transformer.discrete_columns())
    for column, value in conditions.items():
        if column not in discrete:
            continue
        try:
            positions[column] = transformer.encode_condition(column, value)
        except ConditionError:
            _, _, categories = transformer.category_block(column)
            if not categories or categories[-1] is not OTHER:
                raise
            positions[column] = len(categories) - 1
            pooled[column] = value
            kept = [c for c in categories[:-1] if c is not None]
            predicates[column] = lambda values, kept=kept: (
                ~(values.isna() | values.isin(kept)).to_numpy()
            )
    return positions, pooled


def fill_pooled(table: pd.DataFrame, pooled: dict[str, Any]) -> pd.DataFrame:
    """Write each pooled condition value into its column, keeping the dtype."""
    for column, value in pooled.items():
        table[column] = pd.array([value] * len(table), dtype=table[column].dtype)
    return table
