"""Rules kept by construction: a table-level step before and after the encoders.

:class:`RuleTransform` rewrites the real table so that no generator can break a rule
(``end >= start`` becomes ``start`` and a gap bounded below by zero; ``code == hour *
100 + minute`` drops ``code``; ``education -> education-num`` drops ``education-num``
and maps it back through a stored lookup table), and restores the full table after
:meth:`TableTransformer.inverse_transform`. Generators see only the rewritten table,
so each keeps the rules without a change. Rules it cannot reparametrise are checked
(:meth:`RuleTransform.accept`), for rejection as a last resort.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

from ouroboros.errors import ConditionError
from ouroboros.rules import Columns, Plan, RuleError, Step, parse_all, plan, value, violations
from ouroboros.rules.evaluate import modal_rows, truth
from ouroboros.rules.plan import candidates, step_for
from ouroboros.schema import ColumnKind, ColumnSchema, Schema, detect_column

#: example rows shown when the real data breaks a rule
_EXAMPLES = 3


def datetime_formats(schema: Schema) -> dict[str, str | None]:
    """The datetime columns of ``schema`` and their text formats (``None``: a dtype)."""
    return {c.name: c.datetime_format for c in schema.columns if c.kind is ColumnKind.DATETIME}


def check_rules(schema: Schema, data: pd.DataFrame, tolerance: float = 0.0) -> list[int]:
    """Raise one :class:`RuleError` for every rule of ``schema`` that more than
    ``tolerance`` (a share) of the rows of ``data`` break, with counts and examples;
    return the number of rows breaking each rule."""
    rules = parse_all(schema.rules, schema.names)
    columns = Columns(data, datetime_formats(schema))
    counts, problems = [], []
    for text, rule in zip(schema.rules, rules, strict=True):
        broken = violations(rule, columns)
        counts.append(int(broken.sum()))
        if broken.sum() > tolerance * len(data):
            examples = data.loc[broken, rule.columns].head(_EXAMPLES).to_dict("records")
            problems.append(
                f"rule {text!r} is broken by {int(broken.sum())} of {len(data)} real rows, "
                f"e.g. {examples}; fix the data, drop the rule or allow a tolerance"
            )
    if problems:
        raise RuleError(problems if len(problems) > 1 else problems[0])
    return counts


def _jsonable(series: pd.Series) -> list[Any]:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return [None if pd.isna(v) else v.isoformat() for v in series]
    values = series.astype(object).where(series.notna(), None).tolist()
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def _cast(values: Any, column: ColumnSchema) -> pd.Series:
    """Values restored to ``column``'s dtype where the dtype can hold them."""
    series = pd.Series(values)
    try:
        return series.astype(column.dtype)
    except (TypeError, ValueError):
        return series


def _from_numbers(numbers: np.ndarray, column: ColumnSchema) -> pd.Series:
    """Derived numbers (datetimes as UTC seconds) in ``column``'s representation."""
    numbers = np.asarray(numbers, dtype="float64")
    if column.kind is ColumnKind.DATETIME:
        stamps = pd.to_datetime(np.round(numbers, 6), unit="s", utc=column.timezone is not None)
        if column.timezone is not None:
            stamps = stamps.tz_convert(column.timezone)
        if column.datetime_format:
            text = pd.Series(stamps.strftime(column.datetime_format), dtype=object)
            return text.where(pd.notna(stamps), None)
        return _cast(stamps, column)
    if column.kind is ColumnKind.INTEGER or column.dtype.lower().startswith(("int", "uint")):
        numbers = np.round(numbers)
    elif column.precision is not None:
        numbers = np.round(numbers, column.precision)
    if np.isnan(numbers).any() and column.dtype.startswith(("int", "uint")):
        return pd.Series(numbers)
    return _cast(numbers, column)


def _keys(frame: pd.DataFrame, names: list[str]) -> pd.Series:
    key = frame[names[0]].astype(str)
    for name in names[1:]:
        key = key + "\x1f" + frame[name].astype(str)
    return key.reset_index(drop=True)


class RuleTransform:
    """Rewrites a table so that generators keep its schema's rules, and restores it.

    ``tolerance`` is the share of real rows allowed to break a rule (0: none).
    """

    def __init__(self, schema: Schema, tolerance: float = 0.0):
        self.schema = schema
        self.tolerance = tolerance

    # ------------------------------------------------------------ fitting
    def fit_transform(self, data: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """Check the rules on ``data``, plan how each is kept and return the rewritten table."""
        check_rules(self.schema, data, self.tolerance)
        self.rules_ = parse_all(self.schema.rules, self.schema.names)
        modelled = [
            c.name
            for c in self.schema.columns
            if c.kind not in (ColumnKind.IDENTIFIER, ColumnKind.CONSTANT)
        ]
        columns = Columns(data, datetime_formats(self.schema))
        refuse: set[int] = set()
        while True:
            self.plan_ = plan(self.rules_, modelled, refuse)
            bad = [s.index for s in self.plan_.steps if not self._feasible(s, columns)]
            if not bad:
                break
            refuse.update(bad)
        self.tables_: dict[int, dict[str, Any]] = {}
        frame = data.copy()
        for step in self.plan_.steps:
            frame = self._forward(step, frame, columns, rng)
        self.inner_schema_ = self._inner_schema(frame)
        return frame[self.inner_schema_.names]

    def _feasible(self, step: Step, columns: Columns) -> bool:
        """Derived values must be computable wherever the column is present."""
        if step.kind not in ("derive", "lookup"):
            return True
        present = np.zeros(columns.n, dtype=bool)
        for name in step.produces:
            present |= ~pd.isna(pd.Series(columns[name][0])).to_numpy()
        inputs_missing = np.zeros(columns.n, dtype=bool)
        for name in step.inputs:
            inputs_missing |= pd.isna(pd.Series(columns[name][0])).to_numpy()
        return not (present & inputs_missing).any()

    def _forward(
        self, step: Step, frame: pd.DataFrame, columns: Columns, rng: np.random.Generator
    ) -> pd.DataFrame:
        if step.kind == "derive":
            frame = frame.drop(columns=step.target)
            if step.sign:
                target = columns[step.target][0]
                gap = step.sign * (target - value(step.expr, columns)[0])
                gap = np.maximum(gap, 0.0)
                name = self._fresh(f"{step.target}~gap", frame)
                self.tables_[step.index] = {"gap": name}
                frame[name] = gap
        elif step.kind == "lookup":
            rows = modal_rows(frame, list(step.inputs), list(step.produces))
            self.tables_[step.index] = {c: _jsonable(rows[c]) for c in rows.columns}
            frame = frame.drop(columns=list(step.produces))
        elif step.kind == "combine":
            members = list(step.produces)
            codes = frame.groupby(members, dropna=False, sort=False).ngroup()
            first_row = pd.Series(np.arange(len(frame))).groupby(codes.to_numpy()).first()
            first = frame[members].iloc[first_row.to_numpy()]
            name = self._fresh("fixed(" + ",".join(members) + ")", frame)
            self.tables_[step.index] = {"column": name, **{c: _jsonable(first[c]) for c in members}}
            frame = frame.drop(columns=members)
            frame[name] = codes.astype(str).to_numpy()
        elif step.kind == "together":
            anchor, follower = step.inputs[0], step.target
            holes = frame[anchor].isna() & frame[follower].isna()
            present = frame[follower].dropna()
            if len(present) and holes.any():
                draws = present.to_numpy()[rng.integers(len(present), size=int(holes.sum()))]
                frame.loc[holes, follower] = draws
        return frame

    @staticmethod
    def _fresh(name: str, frame: pd.DataFrame) -> str:
        while name in frame.columns:
            name += "~"
        return name

    def _inner_schema(self, frame: pd.DataFrame) -> Schema:
        changed = {s.target for s in self.plan_.steps if s.kind == "together"}
        out = []
        for name in frame.columns:
            if name in self.schema and name not in changed:
                out.append(copy.deepcopy(self.schema[name]))
            elif name in self.schema:
                info = self.schema[name]
                out.append(detect_column(frame[name], kind=info.kind, fmt=info.datetime_format))
            else:
                kind = ColumnKind.CATEGORICAL if name.startswith("fixed(") else None
                out.append(detect_column(frame[name], kind=kind))
        return Schema(columns=out, n_rows=len(frame))

    # ------------------------------------------------------------ restoring
    def inverse(self, inner: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """The full table, every reparametrised rule holding, in the schema's column order."""
        frame = inner.reset_index(drop=True).copy()
        formats = datetime_formats(self.schema)
        for step in self.plan_.steps:
            columns = Columns(frame, formats)
            if step.kind == "derive":
                numbers = value(step.expr, columns)[0].astype("float64")
                numbers = np.broadcast_to(numbers, (len(frame),))
                if step.sign:
                    numbers = numbers + step.sign * frame[self.tables_[step.index]["gap"]].to_numpy(
                        dtype="float64", na_value=np.nan
                    )
                frame[step.target] = _from_numbers(numbers, self.schema[step.target]).to_numpy()
            elif step.kind == "lookup":
                frame = self._lookup(step, frame, columns)
            elif step.kind == "combine":
                table = self.tables_[step.index]
                codes = frame[table["column"]].astype(int).to_numpy()
                for c in step.produces:
                    frame[c] = _cast(np.asarray(table[c], dtype=object)[codes], self.schema[c])
            elif step.kind == "together":
                holes = frame[step.inputs[0]].isna().to_numpy()
                follower = frame[step.target].astype(object)
                follower[holes] = None
                frame[step.target] = _cast(follower, self.schema[step.target]).to_numpy()
            else:
                frame = self._override(step, frame, columns)
        return frame[self.schema.names]

    def _lookup(self, step: Step, frame: pd.DataFrame, columns: Columns) -> pd.DataFrame:
        table = self.tables_[step.index]
        det = list(step.inputs)
        keys = pd.DataFrame({c: _cast(table[c], self.schema[c]) for c in det + list(step.produces)})
        if len(det) == 1 and columns[det[0]][1] in ("num", "dt"):
            known = Columns(keys, datetime_formats(self.schema))[det[0]][0]
            order = np.argsort(known, kind="stable")
            wanted = np.nan_to_num(columns[det[0]][0], nan=known[order[0]])
            at = np.clip(np.searchsorted(known[order], wanted), 1, len(order) - 1)
            if len(order) == 1:
                at = np.zeros(len(wanted), dtype=int)
            else:
                left = known[order[at - 1]]
                at = np.where(
                    np.abs(wanted - left) <= np.abs(known[order[at]] - wanted), at - 1, at
                )
            index = order[at]
        else:
            where = dict(zip(_keys(keys, det), range(len(keys)), strict=True))
            index = _keys(frame, det).map(where).fillna(0).astype(int).to_numpy()
        for c in step.produces:
            frame[c] = keys[c].to_numpy()[index]
        return frame

    def _override(self, step: Step, frame: pd.DataFrame, columns: Columns) -> pd.DataFrame:
        met = np.broadcast_to(truth(step.condition, columns) == 1, (len(frame),))
        values, kind = value(step.expr, columns)
        values = np.broadcast_to(values, (len(frame),))
        info = self.schema[step.target]
        if kind == "text":
            column = frame[step.target].astype(object).to_numpy()
            column[met] = values[met]
            frame[step.target] = _cast(column, info).to_numpy()
        else:
            numbers = columns[step.target][0].copy()
            numbers[met] = values[met]
            frame[step.target] = _from_numbers(numbers, info).to_numpy()
        return frame

    # ------------------------------------------------------------ checks
    @property
    def checked(self) -> list[int]:
        """Indices of the rules kept only by rejection."""
        return self.plan_.checked

    def accept(self, table: pd.DataFrame) -> np.ndarray:
        """Rows of a restored table that keep every checked rule."""
        keep = np.ones(len(table), dtype=bool)
        if self.plan_.checked:
            columns = Columns(table, datetime_formats(self.schema))
            for index in self.plan_.checked:
                keep &= ~violations(self.rules_[index], columns)
        return keep

    def produced(self) -> set[str]:
        """Columns that restoring writes (derived, looked up, combined, overridden)."""
        return {c for s in self.plan_.steps for c in s.produces}

    def check_conditions(self, conditions: dict[str, Any]) -> None:
        """Raise :class:`ConditionError` when single-value conditions break a rule."""
        fixed = {k: v for k, v in conditions.items() if not isinstance(v, (tuple, list))}
        if not fixed:
            return
        row = pd.DataFrame({k: [v] for k, v in fixed.items()})
        columns = Columns(row, datetime_formats(self.schema))
        steps = {s.index: s for s in self.plan_.steps}
        for index, (text, rule) in enumerate(zip(self.schema.rules, self.rules_, strict=True)):
            if not set(rule.columns) <= set(fixed):
                continue
            step = steps.get(index)
            broken = bool(violations(rule, columns)[0])
            if step is not None and step.kind == "lookup":
                reference = self._lookup(step, row[list(step.inputs)].copy(), columns)
                broken = any(not _equal(reference[c].iloc[0], fixed[c]) for c in step.produces)
            if broken:
                raise ConditionError(f"the conditions {fixed} break the rule {text!r}")

    # ------------------------------------------------------------ conditions and holes
    def inner_conditions(
        self, conditions: dict[str, Any], predicates: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        """Conditions on the full table passed down to the rewritten one: those on its
        own columns as they are, and, as the values allowed in an inner categorical
        column, those on a dependent of a one-column lookup (its determinants that map
        to a wanted value) or on a member of fixed combinations (the combinations
        meeting it). The others are met only by ``predicates`` on restored rows."""
        inner = self.inner_schema_
        native = {c: v for c, v in conditions.items() if c in inner}
        choices: dict[str, list[Any]] = {}
        for step in self.plan_.steps:
            wanted = [c for c in step.produces if c in conditions and c not in inner]
            if not wanted:
                continue
            table = self.tables_.get(step.index, {})
            if step.kind == "lookup" and len(step.inputs) == 1:
                column = step.inputs[0]
                if column in self.produced() or inner[column].kind is not ColumnKind.CATEGORICAL:
                    continue
                keys = pd.DataFrame({c: _cast(table[c], self.schema[c]) for c in table})
            elif step.kind == "combine":
                column = table["column"]
                keys = pd.DataFrame({c: _cast(table[c], self.schema[c]) for c in step.produces})
                keys[column] = [str(i) for i in range(len(keys))]
            else:
                continue
            meets = np.ones(len(keys), dtype=bool)
            for c in wanted:
                meets &= predicates[c](keys[c])
            allowed = set(keys.loc[meets, column])
            if column in choices:
                allowed &= set(choices[column])
            if not allowed:
                raise ConditionError(
                    f"no value of {column!r} gives { ({c: conditions[c] for c in wanted}) } "
                    f"under the rule {self.schema.rules[step.index]!r}"
                )
            choices[column] = sorted(allowed, key=str)
        return native, choices

    def rewrite(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (the full columns, missing cells allowed) as the rewritten table the
        generator models, each inner cell missing where a cell it comes from is."""
        columns = Columns(frame.reset_index(drop=True), datetime_formats(self.schema))
        out = frame.reset_index(drop=True).copy()
        for step in self.plan_.steps:
            table = self.tables_.get(step.index, {})
            if step.kind == "derive":
                if step.sign:
                    gap = step.sign * (columns[step.target][0] - value(step.expr, columns)[0])
                    out[table["gap"]] = np.maximum(np.broadcast_to(gap, (len(out),)), 0.0)
                out = out.drop(columns=step.target)
            elif step.kind == "lookup":
                out = out.drop(columns=list(step.produces))
            elif step.kind == "combine":
                members = list(step.produces)
                keys = pd.DataFrame({c: _cast(table[c], self.schema[c]) for c in members})
                where = {k: str(i) for i, k in enumerate(_keys(keys, members))}
                code = _keys(out, members).map(where).astype(object)
                code[out[members].isna().any(axis=1).to_numpy()] = None
                out = out.drop(columns=members)
                out[table["column"]] = code.where(code.notna(), None).to_numpy()
        return out[self.inner_schema_.names]

    def row_choices(self, frame: pd.DataFrame) -> dict[str, tuple[list[Any], np.ndarray]]:
        """Per row of ``frame`` (the full columns), the categories of an inner column
        that agree with its observed cells: the combinations of a ``fixed`` rule
        matching its observed members, the determinants of a one-column lookup mapping
        to its observed dependents. Maps the inner column to its categories and a
        ``(rows, categories)`` mask."""
        out = {}
        frame = frame.reset_index(drop=True)
        for step in self.plan_.steps:
            table = self.tables_[step.index] if step.kind in ("lookup", "combine") else {}
            if step.kind == "combine":
                column, names = table["column"], list(step.produces)
                categories = [str(i) for i in range(len(table[names[0]]))]
            elif step.kind == "lookup" and len(step.inputs) == 1:
                column, names = step.inputs[0], list(step.produces)
                if column in self.produced() or (
                    self.inner_schema_[column].kind is not ColumnKind.CATEGORICAL
                ):
                    continue
                categories = list(_cast(table[column], self.schema[column]))
            else:
                continue
            agree = np.ones((len(frame), len(categories)), dtype=bool)
            for name in names:
                keys = _cast(table[name], self.schema[name]).astype(object).to_numpy()
                seen = frame[name].astype(object).to_numpy()
                equal = seen[:, None] == keys[None, :]
                agree &= equal | pd.isna(frame[name]).to_numpy()[:, None]
            out[column] = (categories, agree)
        return out

    def solve(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the missing cells that its rules fix from the observed ones
        filled: the one missing input of an equality whose result is observed
        (``code == hour * 100 + minute`` gives ``hour``), and the determinant of an
        observed dependent value that one determinant value alone maps to."""
        out = frame.reset_index(drop=True).copy()
        formats = datetime_formats(self.schema)
        for step in self.plan_.steps:
            if step.kind == "derive" and step.sign == 0:
                for other in candidates(step.index, self.rules_[step.index]):
                    if other.sign == 0 and other.target in step.inputs:
                        out = self._solve_for(other, out, Columns(out, formats))
            elif step.kind == "lookup" and len(step.inputs) == 1:
                out = self._solve_lookup(step, out)
        return out

    def _solve_for(self, step: Step, frame: pd.DataFrame, columns: Columns) -> pd.DataFrame:
        rows = frame[step.target].isna().to_numpy().copy()
        for name in step.inputs:
            rows &= frame[name].notna().to_numpy()
        if rows.any():
            numbers = np.broadcast_to(value(step.expr, columns)[0], (len(frame),))
            solved = _from_numbers(numbers[rows], self.schema[step.target])
            column = frame[step.target].astype(object)
            column[rows] = solved.to_numpy()
            frame[step.target] = _cast(column, self.schema[step.target]).infer_objects()
        return frame

    def _solve_lookup(self, step: Step, frame: pd.DataFrame) -> pd.DataFrame:
        det, dep = step.inputs[0], list(step.produces)
        rows = frame[det].isna().to_numpy() & frame[dep].notna().all(axis=1).to_numpy()
        if not rows.any():
            return frame
        table = self.tables_[step.index]
        keys = pd.DataFrame({c: _cast(table[c], self.schema[c]) for c in table})
        by_dep = keys.groupby(_keys(keys, dep).to_numpy())[det]
        unique = by_dep.nunique(dropna=False) == 1
        reverse = by_dep.first()[unique]
        found = _keys(frame.loc[rows], dep).map(reverse)
        column = frame[det].astype(object)
        column[np.flatnonzero(rows)] = found.where(found.notna(), None).to_numpy()
        frame[det] = _cast(column, self.schema[det]).infer_objects()
        return frame

    def breaking(self, table: pd.DataFrame) -> np.ndarray:
        """Rows of a full table breaking any rule, dependencies and fixed combinations
        read against the stored tables; a row with a missing value a rule reads breaks
        nothing there."""
        columns = Columns(table.reset_index(drop=True), datetime_formats(self.schema))
        steps = {s.index: s for s in self.plan_.steps}
        mask = np.zeros(len(table), dtype=bool)
        for index, rule in enumerate(self.rules_):
            step, reference = steps.get(index), None
            if step is not None and step.kind in ("lookup", "combine"):
                stored = self.tables_[step.index]
                names = list(step.inputs + step.produces)
                keys = pd.DataFrame({c: _cast(stored[c], self.schema[c]) for c in names})
                reference = Columns(keys, datetime_formats(self.schema))
            mask |= violations(rule, columns, reference)
        return mask

    # ------------------------------------------------------------ persistence
    def to_state(self) -> dict[str, Any]:
        """JSON-able state: the tolerance, the rewritten schema and the lookup tables."""
        return {
            "tolerance": self.tolerance,
            "refused": sorted(
                i for i in self.plan_.checked if step_for(i, self.rules_[i]) is not None
            ),
            "inner_schema": self.inner_schema_.to_dict(),
            "tables": {str(k): v for k, v in self.tables_.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], schema: Schema) -> RuleTransform:
        """Restore what :meth:`to_state` returned; the rules come from ``schema`` as text."""
        out = cls(schema, float(state.get("tolerance", 0.0)))
        out.rules_ = parse_all(schema.rules, schema.names)
        modelled = [
            c.name
            for c in schema.columns
            if c.kind not in (ColumnKind.IDENTIFIER, ColumnKind.CONSTANT)
        ]
        out.plan_: Plan = plan(out.rules_, modelled, state.get("refused", []))
        out.inner_schema_ = Schema.from_dict(state["inner_schema"])
        out.tables_ = {int(k): v for k, v in state.get("tables", {}).items()}
        return out


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) or (pd.isna(a) and pd.isna(b))
    except (TypeError, ValueError):
        return False
