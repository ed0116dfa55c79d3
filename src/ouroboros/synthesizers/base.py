"""The :class:`Synthesizer` contract every generator follows.

Template methods in the style of SDV's ``BaseSynthesizer`` and scikit-learn's
estimators: the public :meth:`Synthesizer.fit` and :meth:`Synthesizer.sample`
validate input, handle the schema, the reversible transforms and seeding, then
call the small ``_fit``/``_sample`` that each generator implements on the
encoded matrix. Constructors only store parameters; fitted state ends in ``_``.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ouroboros import __version__
from ouroboros.errors import (
    ConditionError,
    DataError,
    ModelFileError,
    NotFittedError,
    ParameterError,
)
from ouroboros.lineage import attach_lineage, training_lineage
from ouroboros.lineage.frames import training_reference
from ouroboros.lineage.guard import check as check_training_data
from ouroboros.lineage.guard import check_policy
from ouroboros.lineage.watermark import key_id as watermark_key_id
from ouroboros.lineage.watermark import load_key, marked_rows
from ouroboros.schema import ColumnKind, Schema
from ouroboros.synthesizers.modelfile import file_sha256, read_model, write_model
from ouroboros.synthesizers.params import (
    Integer,
    Param,
    merge_tables,
    signature,
    table_from_signature,
)
from ouroboros.transforms import TableTransformer
from ouroboros.transforms.rules import RuleTransform
from ouroboros.values import datetime_seconds

#: rows drawn per round of rejection sampling, as a multiple of the rows asked for
_REJECTION_BATCH = 4
_REJECTION_ROUNDS = 50


@dataclass(frozen=True)
class Tags:
    """Capabilities of a generator; :mod:`ouroboros.testing` checks each promise.

    conditioning:
        ``"native"``: the model steers its draws to the conditions, so even a rare
        condition is met in a round or two; ``"rejection"``: rows are drawn and filtered,
        and a condition met too rarely raises :class:`ConditionError`.
    requires_torch:
        The model runs on torch (thread limits apply to it).
    handles_missing:
        Missing cells are modelled and their rate reproduced; when false, ``fit`` refuses
        data with missing cells (:class:`DataError`).
    differential_privacy:
        Training is differentially private; the generator takes ``epsilon`` and
        ``delta`` parameters and reports the budget spent as ``epsilon_spent_``. A
        generator that also takes ``dp`` offers it as an option (``dp=True``).
    deterministic:
        The same seed gives the same fit and the same rows.
    sequential:
        The generator learns event sequences (:mod:`ouroboros.sequence_schema`):
        ``sample(n)`` draws ``n`` entities, or ``n`` steps of one series, and the
        contract checks of :mod:`ouroboros.testing.sequences` apply instead of the row ones.
    """

    conditioning: str = "rejection"
    requires_torch: bool = False
    handles_missing: bool = True
    differential_privacy: bool = False
    deterministic: bool = True
    sequential: bool = False


class Synthesizer(ABC):
    """Base class of every generator.

    Subclasses list their hyper-parameters in ``parameters`` (name to
    :class:`~ouroboros.synthesizers.params.Param`: default and allowed values) and
    change inherited defaults in ``defaults``; the keyword-only constructor that stores
    them is generated, and ``fit`` validates them. A subclass may instead write its own
    keyword-only ``__init__`` that stores each argument under its name. Set ``name`` and
    ``tags``, and implement ``_fit(matrix, rng)``, ``_sample(n, rng)``, ``_get_state()``
    and ``_set_state(state)``. ``test_params`` holds the cheap settings (e.g. one epoch)
    that the tests and the contract checks use.
    """

    name: ClassVar[str] = ""
    tags: ClassVar[Tags] = Tags()
    test_params: ClassVar[dict[str, Any]] = {}
    parameters: ClassVar[dict[str, Param]] = {"seed": Param(None, Integer(optional=True))}
    _param_table: ClassVar[dict[str, Param]] = parameters

    def __init__(self, **params: Any):
        self._store_params(params)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        inherited = merge_tables(cls, [getattr(b, "_param_table", {}) for b in cls.__bases__])
        if "__init__" in cls.__dict__:
            cls._param_table = table_from_signature(cls, inherited)
            return
        cls._param_table = inherited

        def __init__(self, **params: Any) -> None:
            self._store_params(params)

        __init__.__signature__ = signature(inherited)  # type: ignore[attr-defined]
        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        cls.__init__ = __init__  # type: ignore[method-assign]

    # ------------------------------------------------------------ parameters
    @classmethod
    def param_names(cls) -> list[str]:
        """Every hyper-parameter, inherited ones included."""
        return list(cls._param_table)

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        """Each hyper-parameter's default."""
        return {name: p.default for name, p in cls._param_table.items()}

    def _store_params(self, params: dict[str, Any]) -> None:
        self._reject_unknown(params)
        for name, value in {**self.param_defaults(), **params}.items():
            setattr(self, name, value)

    def _reject_unknown(self, params: dict[str, Any]) -> None:
        unknown = set(params) - set(self.param_names())
        if unknown:
            raise ParameterError(
                f"{type(self).__name__} has no parameters {sorted(unknown)}; "
                f"it takes {self.param_names()}"
            )

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as given."""
        return {name: getattr(self, name) for name in self.param_names()}

    def set_params(self, **params: Any) -> Synthesizer:
        """Change hyper-parameters, each checked against its table entry now (so that a
        sampling setting changed on a fitted model, such as ``temperature``, is too)."""
        self._reject_unknown(params)
        for key, value in params.items():
            self._param_table[key].allowed.check(type(self).__name__, key, value)
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_params(self) -> None:
        """Validate every hyper-parameter against its table entry (called at the start of
        fit); subclasses extend it for checks that involve several parameters."""
        owner = type(self).__name__
        for name, param in self._param_table.items():
            param.allowed.check(owner, name, getattr(self, name))

    # ------------------------------------------------------------ fitting
    def _transformer_options(self) -> dict[str, Any]:
        """Keyword arguments for this generator's :class:`TableTransformer`."""
        return {}

    def fit(
        self,
        data: pd.DataFrame,
        schema: Schema | dict | str | os.PathLike | None = None,
        rules: list[str] | None = None,
        rule_tolerance: float = 0.0,
        *,
        guard: str = "warn",
        max_synthetic_share: float = 0.0,
        max_depth: int | None = None,
        allow_synthetic: bool = False,
    ) -> Synthesizer:
        """Learn the distribution of ``data``; ``schema`` overrides detected column kinds.

        ``rules`` (added to the schema's) are kept by construction in every sample
        (:mod:`ouroboros.rules`); a rule broken by more than a ``rule_tolerance`` share
        of the rows of ``data`` is refused with a :class:`~ouroboros.rules.RuleError`.

        Before training, the contamination guard (:mod:`ouroboros.lineage.guard`) checks
        ``data`` for synthetic rows: ``guard="warn"`` warns, ``"strict"`` refuses with
        :class:`~ouroboros.lineage.guard.SyntheticDataError`, ``"off"`` skips it; data
        within ``max_synthetic_share`` and ``max_depth`` passes, and ``allow_synthetic``
        lets anything pass. What it found is kept in ``guard_``.
        """
        self._check_params()
        check_policy(guard, max_synthetic_share, max_depth)
        schema = _resolve_schema(data, schema)
        self._trace_training_data(data, guard, max_synthetic_share, max_depth, allow_synthetic)
        if rules:
            schema.rules = list(dict.fromkeys([*schema.rules, *rules]))
        if not self.tags.handles_missing:
            _refuse_missing(type(self).__name__, data)
        rng = np.random.default_rng(self.seed)
        self.schema_ = schema
        self.rules_ = RuleTransform(schema, rule_tolerance) if schema.rules else None
        if self.rules_ is not None:
            data = self.rules_.fit_transform(data, rng)
            schema = self.rules_.inner_schema_
        self.transformer_ = TableTransformer(schema, **self._transformer_options()).fit(data, rng)
        matrix = self.transformer_.transform(data, rng)
        self.n_training_rows_ = len(data)
        self._fit(matrix, rng)
        self.sample_rng_ = np.random.default_rng(rng.integers(2**63))
        return self

    def _trace_training_data(
        self,
        data: pd.DataFrame,
        policy: str,
        max_synthetic_share: float,
        max_depth: int | None,
        allow_synthetic: bool,
    ) -> None:
        """Resolve the lineage of training ``data``, keep a reference of its row hashes (in
        memory only: never saved) and run the contamination guard on it."""
        self.training_lineage_ = training_lineage(data)
        self.training_row_hashes_ = training_reference(data)
        self.guard_ = self._guard(
            data, policy, max_synthetic_share, max_depth, allow_synthetic, stacklevel=5
        )

    def _guard(
        self,
        data: pd.DataFrame,
        policy: str,
        max_synthetic_share: float,
        max_depth: int | None,
        allow_synthetic: bool,
        stacklevel: int = 4,
    ) -> dict[str, Any] | None:
        """Run the contamination guard on training ``data`` (for fits that override ``fit``:
        call it after setting ``training_lineage_``)."""
        return check_training_data(
            data,
            getattr(self, "training_lineage_", None),
            policy=policy,
            max_synthetic_share=max_synthetic_share,
            max_depth=max_depth,
            allow_synthetic=allow_synthetic,
            stacklevel=stacklevel,
        )

    @abstractmethod
    def _fit(self, matrix: np.ndarray, rng: np.random.Generator) -> None:
        """Fit the model on the encoded matrix (float32, one row per training row)."""

    # ------------------------------------------------------------ sampling
    def _check_fitted(self) -> None:
        if not hasattr(self, "transformer_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(data) first"
            )

    def sample(
        self,
        n: int,
        seed: int | None = None,
        conditions: dict[str, Any] | None = None,
        watermark: bool = True,
    ) -> pd.DataFrame:
        """Draw ``n`` synthetic rows with exactly the training columns, order and dtypes.

        ``seed`` makes the draw reproducible; without it the model's own generator
        advances. ``conditions`` maps a column to a value (categorical, integer) or
        to a ``(low, high)`` range (numeric, datetime) that every row must meet.
        ``watermark`` embeds this user's keyed watermark (:mod:`ouroboros.lineage.watermark`)
        by keeping the greenest of more rows drawn; no value is changed.
        """
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ParameterError(f"parameter 'n' must be a positive integer; got {n!r}")
        if not isinstance(watermark, (bool, np.bool_)):
            raise ParameterError(f"parameter 'watermark' must be True or False; got {watermark!r}")
        n = int(n)
        rng = self.sample_rng_ if seed is None else np.random.default_rng(seed)
        key = load_key() if watermark and not self.tags.sequential else None
        table, key = self._watermarked_table(n, rng, conditions, key)
        key_id = None if key is None else watermark_key_id(key)
        return attach_lineage(self, table.reset_index(drop=True), seed, watermark_key_id=key_id)

    def _watermarked_table(
        self, n: int, rng: np.random.Generator, conditions: dict | None, key: bytes | None
    ) -> tuple[pd.DataFrame, bytes | None]:
        """``n`` rows and the key that marked them (:func:`~ouroboros.lineage.watermark.
        marked_rows`; ``None`` when there is no key or nothing could carry the mark)."""
        if key is None:
            return self._sample_table(n, rng, conditions), None
        table, marked = marked_rows(
            lambda m: self._sample_table(m, rng, conditions), n, key, rng, bool(conditions)
        )
        # rows from several draws: identifiers drawn afresh so that they stay unique
        table = self.transformer_.fresh_identifiers(table, rng)
        return table, key if marked else None

    def _sample_table(
        self, n: int, rng: np.random.Generator, conditions: dict[str, Any] | None
    ) -> pd.DataFrame:
        """``n`` rows meeting ``conditions`` and the rules."""
        rules = getattr(self, "rules_", None)
        if conditions:
            predicates = self._condition_predicates(conditions)
            if rules is not None:
                rules.check_conditions(conditions)
            if rules is None or not (rules.checked or rules.produced() & set(conditions)):
                table = self._sample_conditional(n, rng, conditions, predicates)
                table = table if rules is None else rules.inverse(table, rng)
            else:
                table = Synthesizer._sample_conditional(self, n, rng, conditions, predicates)
        else:
            table = self._draw_rows(n, rng)
            if len(table) < n:  # rows broke a rule kept only by rejection
                more = self._rejection_sample(
                    n - len(table), rng, {}, lambda m: self._draw_rows(m, rng)
                )
                table = pd.concat([table, more], ignore_index=True)
                table = self.transformer_.fresh_identifiers(table, rng)
        return table.reset_index(drop=True)

    def _draw_rows(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """``n`` rows decoded, with the rules restored; rows breaking a rule kept only by
        rejection are dropped."""
        table = self.transformer_.inverse_transform(self._sample(n, rng), rng)
        rules = getattr(self, "rules_", None)
        if rules is None:
            return table
        table = rules.inverse(table, rng)
        return table[rules.accept(table)]

    @abstractmethod
    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` rows of the encoded matrix."""

    def _sample_conditional(
        self,
        n: int,
        rng: np.random.Generator,
        conditions: dict[str, Any],
        predicates: dict[str, Callable[[pd.Series], np.ndarray]],
    ) -> pd.DataFrame:
        """Rows meeting ``conditions``; rejection sampling unless a subclass does better."""
        return self._rejection_sample(n, rng, predicates, lambda m: self._draw_rows(m, rng))

    def _rejection_sample(
        self,
        n: int,
        rng: np.random.Generator,
        predicates: dict[str, Callable[[pd.Series], np.ndarray]],
        draw: Callable[[int], pd.DataFrame],
    ) -> pd.DataFrame:
        """Draw batches from ``draw`` and keep rows meeting every predicate, or give up clearly."""
        kept, total, drawn = [], 0, 0
        batch = max(n * _REJECTION_BATCH, 256)
        for _ in range(_REJECTION_ROUNDS):
            table = draw(batch)
            drawn += len(table)
            mask = rows_meeting(table, predicates)
            kept.append(table[mask])
            total += int(mask.sum())
            if total >= n:
                return pd.concat(kept, ignore_index=True).iloc[:n]
        asked = f"the conditions {sorted(predicates)}" if predicates else "the rules"
        raise ConditionError(
            f"{asked} were met by only {total} of {drawn} sampled rows, fewer than the "
            f"{n} asked for; widen the conditions or rules, or ask for fewer rows"
        )

    def _condition_predicates(
        self, conditions: dict[str, Any]
    ) -> dict[str, Callable[[pd.Series], np.ndarray]]:
        """Check every condition against the schema and turn it into a row predicate."""
        problems, predicates = [], {}
        for column, wanted in conditions.items():
            if column not in self.schema_:
                problems.append(f"condition on {column!r}: no such column")
                continue
            info = self.schema_[column]
            if info.kind in (ColumnKind.IDENTIFIER, ColumnKind.CONSTANT):
                problems.append(
                    f"condition on {column!r}: {info.kind.value} columns are not modelled"
                )
                continue
            if isinstance(wanted, (tuple, list)) and len(wanted) == 2:
                if info.kind is ColumnKind.CATEGORICAL:
                    problems.append(f"condition on {column!r}: give one category, not a range")
                    continue
                low, high = _bounds(info, wanted)
                lo_seen, hi_seen = info.numeric_bounds()
                if low > high or high < lo_seen or low > hi_seen:
                    problems.append(
                        f"condition on {column!r}: range {tuple(wanted)} is empty or outside the "
                        f"training range [{info.min}, {info.max}]"
                    )
                    continue
                predicates[column] = _range_predicate(info, low, high)
            else:
                if info.kind is ColumnKind.CATEGORICAL:
                    allowed = info.categories or []
                    if not any(_same(wanted, c) for c in allowed):
                        problems.append(
                            f"condition on {column!r}: {wanted!r} never occurs in the training data; "
                            f"seen values include {allowed[:10]}"
                        )
                        continue
                elif info.kind is ColumnKind.INTEGER:
                    if not info.min <= wanted <= info.max:
                        problems.append(
                            f"condition on {column!r}: {wanted!r} is outside the training range "
                            f"[{info.min}, {info.max}]"
                        )
                        continue
                else:
                    problems.append(
                        f"condition on {column!r}: a {info.kind.value} column takes a (low, high) range"
                    )
                    continue
                predicates[column] = _equal_predicate(wanted)
        if problems:
            raise ConditionError("; ".join(problems))
        return predicates

    # ------------------------------------------------------------ persistence
    @abstractmethod
    def _get_state(self) -> dict[str, Any]:
        """The fitted model as JSON-able values and numpy arrays."""

    @abstractmethod
    def _set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`_get_state` returned."""

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted model to one ``.ouro`` file (JSON + arrays, never a pickle)."""
        self._check_fitted()
        header = {
            "class": self.name,
            "params": self.get_params(),
            "schema": self.schema_.to_dict(),
            "n_training_rows": self.n_training_rows_,
            "training_lineage": getattr(self, "training_lineage_", None),
        }
        state = {
            "transformer": self.transformer_.to_state(),
            "model": self._get_state(),
            "sample_rng": self.sample_rng_.bit_generator.state,
        }
        if getattr(self, "rules_", None) is not None:
            state["rules"] = self.rules_.to_state()
        written = write_model(path, header, state)
        self.model_file_sha256_ = file_sha256(written)
        return written

    @classmethod
    def load(cls, path: str | os.PathLike) -> Synthesizer:
        """Load a model written by :meth:`save`; the class comes from the registry only."""
        from ouroboros.synthesizers.registry import get

        header, state = read_model(path)
        name = header.get("class")
        try:
            klass = get(name)
        except ParameterError as exc:
            raise ModelFileError(
                f"{str(path)!r} holds a model of unknown class {name!r}; install the plugin "
                "that provides it"
            ) from exc
        if cls is not Synthesizer and not issubclass(klass, cls):
            raise ModelFileError(f"{str(path)!r} holds a {name!r} model, not a {cls.__name__}")
        try:
            model = klass(**header.get("params", {}))
            model.schema_ = Schema.from_dict(header["schema"])
            rules = state.get("rules")
            model.rules_ = None if rules is None else RuleTransform.from_state(rules, model.schema_)
            inner = model.schema_ if rules is None else model.rules_.inner_schema_
            model.transformer_ = model._load_transformer(state["transformer"], inner)
            model.n_training_rows_ = int(header.get("n_training_rows", 0))
            model.training_lineage_ = header.get("training_lineage")
            model.model_file_sha256_ = file_sha256(path)
            model._set_state(state["model"])
            model.sample_rng_ = np.random.default_rng()
            model.sample_rng_.bit_generator.state = state["sample_rng"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{str(path)!r} is inconsistent: {exc!r}") from exc
        return model

    def _load_transformer(self, state: dict[str, Any], schema: Schema) -> TableTransformer:
        """The fitted transformer from its saved state (a generator whose transformer
        encodes another table than ``schema``'s, such as the sequence ones, overrides it)."""
        return TableTransformer.from_state(state, schema)

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary: class, parameters, library version, training size."""
        self._check_fitted()
        return {
            "class": self.name,
            "params": self.get_params(),
            "library_version": __version__,
            "n_training_rows": self.n_training_rows_,
            "tags": asdict(self.tags),
        }


def _resolve_schema(data: pd.DataFrame, schema: Any) -> Schema:
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"fit expects a pandas DataFrame, got {type(data).__name__}")
    if schema is None:
        return Schema.detect(data)
    if isinstance(schema, (str, os.PathLike)):
        schema = Schema.load(schema)
    elif isinstance(schema, dict):
        schema = Schema.from_dict(schema)
    elif not isinstance(schema, Schema):
        raise ParameterError(
            f"parameter 'schema' must be a Schema, a dict or a JSON path; got {type(schema).__name__}"
        )
    return schema.conform(data)


def _refuse_missing(owner: str, data: pd.DataFrame) -> None:
    missing = [str(c) for c in data.columns if data[c].isna().any()]
    if missing:
        raise DataError(
            f"{owner} does not handle missing values, found in columns {missing}; "
            "fill or drop them first, or use a generator that models them"
        )


def _same(a: Any, b: Any) -> bool:
    """Equality that does not take ``True`` for ``1``."""
    if isinstance(a, (bool, np.bool_)) != isinstance(b, (bool, np.bool_)):
        return False
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _bounds(info, wanted) -> tuple[float, float]:
    low, high = wanted
    if info.kind is ColumnKind.DATETIME:
        return datetime_seconds(low), datetime_seconds(high)
    return float(low), float(high)


def _range_predicate(info, low: float, high: float) -> Callable[[pd.Series], np.ndarray]:
    def predicate(values: pd.Series) -> np.ndarray:
        if info.kind is ColumnKind.DATETIME:
            numbers = datetime_seconds(pd.to_datetime(values, format=info.datetime_format))
        else:
            numbers = values.astype("float64")
        numbers = np.asarray(numbers, dtype="float64")
        return (numbers >= low) & (numbers <= high)

    return predicate


def _equal_predicate(wanted: Any) -> Callable[[pd.Series], np.ndarray]:
    def predicate(values: pd.Series) -> np.ndarray:
        return np.asarray(values == wanted, dtype=bool)

    return predicate


def rows_meeting(
    table: pd.DataFrame, predicates: dict[str, Callable[[pd.Series], np.ndarray]]
) -> np.ndarray:
    """The mask of the rows of ``table`` that meet every condition's predicate."""
    mask = np.ones(len(table), dtype=bool)
    for column, predicate in predicates.items():
        mask &= predicate(table[column])
    return mask
