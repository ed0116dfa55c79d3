"""Vectorised evaluation of rules on a table: which rows break each rule.

Values are numpy arrays: numbers and datetimes (as UTC seconds) in float64 with NaN
for missing, text as objects with ``None``. A comparison touching a missing value is
unknown, and an unknown row breaks no rule. ``==`` between numbers allows a relative
error of 1e-9, so that sums of decimals read from a file still match.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ouroboros.rules.language import (
    Call,
    Col,
    Compare,
    Conditional,
    Dependency,
    Expression,
    Fixed,
    Logic,
    Neg,
    Node,
    Num,
    Rule,
    RuleError,
    Text,
)
from ouroboros.values import datetime_seconds

_RELATIVE = 1e-9
Values = tuple[np.ndarray, str]


class Columns:
    """A table's columns as arrays, converted once on first use.

    ``datetimes`` maps the datetime columns stored as text to their format (``None``:
    inferred); columns of a datetime dtype are recognised by themselves.
    """

    def __init__(self, frame: pd.DataFrame, datetimes: Mapping[str, str | None] | None = None):
        self.frame, self.datetimes = frame, dict(datetimes or {})
        self.n = len(frame)
        self._cache: dict[str, Values] = {}

    @classmethod
    def from_arrays(cls, n: int, arrays: Mapping[str, Values]) -> Columns:
        """Columns already converted (e.g. by the evaluation's encoding)."""
        out = cls(pd.DataFrame(index=pd.RangeIndex(n)))
        out._cache = dict(arrays)
        return out

    def __contains__(self, name: str) -> bool:
        return name in self._cache or name in self.frame.columns

    def __getitem__(self, name: str) -> Values:
        if name not in self._cache:
            self._cache[name] = column_values(
                self.frame[name], name in self.datetimes, self.datetimes.get(name)
            )
        return self._cache[name]


def column_values(series: pd.Series, is_datetime: bool = False, fmt: str | None = None) -> Values:
    """One column as an array and its kind (``num``, ``dt`` or ``text``)."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return np.asarray(datetime_seconds(series), dtype="float64"), "dt"
    if is_datetime:
        stamps = pd.to_datetime(series.astype("string"), format=fmt, errors="coerce")
        return np.asarray(datetime_seconds(stamps), dtype="float64"), "dt"
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype="float64", na_value=np.nan), "num"
    values = series.to_numpy(dtype=object, copy=True)
    values[pd.isna(series).to_numpy()] = None
    return values, "text"


def _missing(values: np.ndarray, kind: str) -> np.ndarray:
    if kind == "text":
        return pd.isna(values) if values.ndim else np.asarray(values is None)
    return np.isnan(values.astype("float64"))


def _literal_date(text: str) -> float:
    try:
        return float(datetime_seconds(text))
    except (ValueError, TypeError) as exc:
        raise RuleError(f"{text!r} is compared with a datetime but is not a date") from exc


def value(node: Node, columns: Columns) -> Values:
    """The values an expression takes on every row."""
    if isinstance(node, Col):
        if node.name not in columns:
            raise RuleError(f"the rule reads column {node.name!r}, which the table lacks")
        return columns[node.name]
    if isinstance(node, Num):
        return np.asarray(node.value, dtype="float64"), "num"
    if isinstance(node, Text):
        return np.asarray(node.value, dtype=object), "text"
    if isinstance(node, (Compare, Logic)):
        return truth(node, columns), "num"
    if isinstance(node, Call):
        values, kind = value(node.arg, columns)
        if node.func == "isnull":
            return _missing(values, kind).astype("float64"), "num"
        return np.abs(_number(values, kind, "abs")), kind
    if isinstance(node, Neg):
        values, kind = value(node.operand, columns)
        return -_number(values, kind, "-"), "num"
    (left, lk), (right, rk) = value(node.left, columns), value(node.right, columns)
    left, right = _number(left, lk, node.op), _number(right, rk, node.op)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[node.op](
            left, right
        )
    dt = (lk == "dt") != (rk == "dt") and node.op in "+-" and not (node.op == "-" and rk == "dt")
    return result, "dt" if dt else "num"


def _number(values: np.ndarray, kind: str, op: str) -> np.ndarray:
    if kind == "text":
        raise RuleError(f"'{op}' needs numbers or datetimes, not text")
    return values.astype("float64")


def truth(node: Node, columns: Columns) -> np.ndarray:
    """1.0 where the expression holds, 0.0 where it does not, NaN where unknown."""
    if isinstance(node, Logic):
        items = np.stack([np.broadcast_to(truth(i, columns), (columns.n,)) for i in node.items])
        if node.op == "and":
            out = np.where((items == 0).any(axis=0), 0.0, 1.0)
            return np.where((items != 0).all(axis=0) & np.isnan(items).any(axis=0), np.nan, out)
        out = np.where((items == 1).any(axis=0), 1.0, 0.0)
        return np.where((items != 1).all(axis=0) & np.isnan(items).any(axis=0), np.nan, out)
    if not isinstance(node, Compare):
        values, kind = value(node, columns)
        return np.where(_missing(values, kind), np.nan, (_number(values, kind, "if") != 0) * 1.0)
    (left, lk), (right, rk) = value(node.left, columns), value(node.right, columns)
    if {lk, rk} == {"dt", "text"}:
        text_side = node.right if rk == "text" else node.left
        if not isinstance(text_side, Text):
            raise RuleError("a datetime column is compared with a text column")
        date = np.asarray(_literal_date(text_side.value))
        left, lk = (date, "dt") if lk == "text" else (left, lk)
        right, rk = (date, "dt") if rk == "text" else (right, rk)
    missing = _missing(left, lk) | _missing(right, rk)
    if "text" in (lk, rk):
        if node.op not in ("==", "!="):
            raise RuleError(f"'{node.op}' orders numbers or datetimes, not text")
        equal = np.vectorize(lambda a, b: a == b, otypes=[bool])(left, right)
        result = equal if node.op == "==" else ~equal
    else:
        left, right = left.astype("float64"), right.astype("float64")
        with np.errstate(invalid="ignore"):
            close = np.abs(left - right) <= _RELATIVE * np.maximum(
                1.0, np.maximum(np.abs(left), np.abs(right))
            )
            result = {
                "<": (left < right) & ~close,
                "<=": (left <= right) | close,
                ">": (left > right) & ~close,
                ">=": (left >= right) | close,
                "==": close,
                "!=": ~close,
            }[node.op]
    return np.where(missing, np.nan, result * 1.0)


def violations(rule: Rule, columns: Columns, reference: Columns | None = None) -> np.ndarray:
    """A boolean mask of the rows that break ``rule``.

    A dependency is broken by rows whose dependent values differ from those of their
    determinant in ``reference`` (the real table) or, without one or for combinations
    it lacks, from the most common ones among the rows themselves. Fixed combinations
    need a ``reference``: rows with a combination it lacks break them.
    """
    n = columns.n
    if isinstance(rule, Expression):
        return np.broadcast_to(truth(rule.tree, columns) == 0, (n,)).copy()
    if isinstance(rule, Conditional):
        met = np.broadcast_to(truth(rule.condition, columns) == 1, (n,))
        return met & np.broadcast_to(truth(rule.then, columns) == 0, (n,))
    frame = _frame(rule.columns, columns)
    if isinstance(rule, Fixed):
        if reference is None:
            return np.zeros(n, dtype=bool)
        seen = _frame(rule.columns, reference).drop_duplicates()
        merged = frame.merge(seen.assign(_seen=True), how="left", on=rule.columns)
        return merged["_seen"].isna().to_numpy()
    return _dependency_violations(rule, frame, reference)


def _frame(names: list[str], columns: Columns) -> pd.DataFrame:
    return pd.DataFrame({name: value(Col(name), columns)[0] for name in names})


def modal_rows(frame: pd.DataFrame, det: list[str], dep: list[str]) -> pd.DataFrame:
    """One row per combination of ``det`` with its most common ``dep``, commonest first."""
    counts = frame.groupby(det + dep, dropna=False, sort=False).size().reset_index(name="_n")
    counts = counts.sort_values("_n", ascending=False, kind="stable")
    return counts.drop_duplicates(det).drop(columns="_n")


def _dependency_violations(
    rule: Dependency, frame: pd.DataFrame, reference: Columns | None
) -> np.ndarray:
    det, dep = list(rule.determinants), list(rule.dependents)
    out = np.zeros(len(frame), dtype=bool)
    known = frame[det].notna().all(axis=1).to_numpy()
    rows = frame[known].reset_index(drop=True)
    index = np.flatnonzero(known)
    unmatched = np.ones(len(rows), dtype=bool)
    if reference is not None:
        mapping = modal_rows(_frame(rule.columns, reference).dropna(subset=det), det, dep)
        if len(det) == 1 and value(Col(det[0]), reference)[1] == "dt" and len(mapping):
            # a new timestamp takes the mapping of the nearest real one
            mapping = mapping.sort_values(det[0], kind="stable").reset_index(drop=True)
            keys = mapping[det[0]].to_numpy(dtype="float64")
            at = np.clip(
                np.searchsorted(keys, rows[det[0]].to_numpy(dtype="float64")), 0, len(keys) - 1
            )
            below = np.clip(at - 1, 0, None)
            wanted = rows[det[0]].to_numpy(dtype="float64")
            at = np.where(np.abs(wanted - keys[below]) <= np.abs(keys[at] - wanted), below, at)
            rows = rows.assign(**{det[0]: keys[at]})
        renamed = mapping.rename(columns={c: f"_ref_{c}" for c in dep}).assign(_seen=True)
        merged = rows.merge(renamed, how="left", on=det)
        unmatched = merged["_seen"].isna().to_numpy()
        differ = np.zeros(len(rows), dtype=bool)
        for c in dep:
            a, b = merged[c], merged[f"_ref_{c}"]
            differ |= ~((a == b) | (a.isna() & b.isna())).to_numpy()
        out[index[~unmatched & differ]] = True
    rest = rows[unmatched]
    if len(rest):
        best = modal_rows(rest, det, dep).assign(_best=True)
        merged = rest.merge(best, how="left", on=det + dep)
        out[index[np.flatnonzero(unmatched)[merged["_best"].isna().to_numpy()]]] = True
    return out
