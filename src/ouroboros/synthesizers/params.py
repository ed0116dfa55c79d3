"""Hyper-parameters declared as a table: name, default and allowed values.

A generator lists its own parameters in ``parameters`` and changes inherited defaults
in ``defaults``; :class:`~ouroboros.synthesizers.base.Synthesizer` merges the tables
along the class hierarchy, builds a keyword-only constructor from them and validates
every value at ``fit`` with one message shape (after scikit-learn's
``sklearn/utils/_param_validation.py``).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from ouroboros.errors import ParameterError


class Constraint(ABC):
    """Allowed values of one parameter; subclasses give ``accepts`` and ``description``."""

    optional: bool = False
    annotation: str = "Any"

    @abstractmethod
    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is allowed (``None`` is handled by ``optional``)."""

    @property
    @abstractmethod
    def description(self) -> str:
        """The allowed values in words, for the error message."""

    def check(self, owner: str, name: str, value: Any) -> None:
        """Raise :class:`ParameterError` naming ``owner``'s parameter unless ``value`` is allowed."""
        if value is None and self.optional:
            return
        if not self.accepts(value):
            allowed = f"None or {self.description}" if self.optional else self.description
            raise ParameterError(f"parameter {name!r} of {owner} must be {allowed}; got {value!r}")

    def hint(self) -> str:
        return f"{self.annotation} | None" if self.optional else self.annotation


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


@dataclass(frozen=True)
class Integer(Constraint):
    """An integer (never a bool) of at least ``minimum``."""

    minimum: int | None = None
    optional: bool = False
    annotation = "int"

    def accepts(self, value: Any) -> bool:
        return _is_int(value) and (self.minimum is None or value >= self.minimum)

    @property
    def description(self) -> str:
        return "an integer" if self.minimum is None else f"an integer >= {self.minimum}"


@dataclass(frozen=True)
class Number(Constraint):
    """A real number between ``low`` and ``high``; ``closed`` names the included ends
    (``"both"``, ``"low"``, ``"high"`` or ``"neither"``); ``floats`` refuses integers."""

    low: float | None = None
    high: float | None = None
    closed: str = "low"
    optional: bool = False
    floats: bool = False
    annotation = "float"

    def accepts(self, value: Any) -> bool:
        if not _is_number(value) or (self.floats and _is_int(value)):
            return False
        low_in, high_in = self.closed in ("both", "low"), self.closed in ("both", "high")
        if self.low is not None and (value < self.low or (value == self.low and not low_in)):
            return False
        return self.high is None or value < self.high or (value == self.high and high_in)

    @property
    def description(self) -> str:
        kind = "a float" if self.floats else "a number"
        if self.low is not None and self.high is not None:
            left = "[" if self.closed in ("both", "low") else "("
            right = "]" if self.closed in ("both", "high") else ")"
            return f"{kind} in {left}{self.low}, {self.high}{right}"
        if self.low is not None:
            return f"{kind} {'>=' if self.closed in ('both', 'low') else '>'} {self.low}"
        if self.high is not None:
            return f"{kind} {'<=' if self.closed in ('both', 'high') else '<'} {self.high}"
        return kind


@dataclass(frozen=True)
class Boolean(Constraint):
    """``True`` or ``False``."""

    annotation = "bool"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_))

    @property
    def description(self) -> str:
        return "a bool"


@dataclass(frozen=True)
class OneOf(Constraint):
    """One of a few fixed values."""

    choices: tuple[Any, ...]
    optional: bool = False
    annotation = "str"

    def accepts(self, value: Any) -> bool:
        return any(value == choice and type(value) is type(choice) for choice in self.choices)

    @property
    def description(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)


@dataclass(frozen=True)
class Anything(Constraint):
    """No constraint (the generator checks the value itself)."""

    def accepts(self, value: Any) -> bool:
        return True

    @property
    def description(self) -> str:
        return "anything"


@dataclass(frozen=True)
class Param:
    """One hyper-parameter: its default and its allowed values."""

    default: Any
    allowed: Constraint = Anything()


def merge_tables(cls: type, tables: list[dict[str, Param]]) -> dict[str, Param]:
    """The parameters of ``cls``: its bases' ``tables`` (the first base wins), then its own
    ``parameters`` table, then its ``defaults`` overrides of inherited parameters."""
    table: dict[str, Param] = {}
    for inherited in reversed(tables):
        table.update(inherited)
    table.update(cls.__dict__.get("parameters", {}))
    for name, default in cls.__dict__.get("defaults", {}).items():
        if name not in table:
            raise TypeError(f"{cls.__name__}.defaults names an unknown parameter {name!r}")
        table[name] = Param(default, table[name].allowed)
    return table


def table_from_signature(cls: type, inherited: dict[str, Param]) -> dict[str, Param]:
    """The parameters of a class that writes its own keyword-only ``__init__``: its
    signature, with the constraints of same-named inherited parameters."""
    table = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        default = None if p.default is p.empty else p.default
        allowed = inherited[p.name].allowed if p.name in inherited else Anything()
        table[p.name] = Param(default, allowed)
    return table


def signature(table: dict[str, Param]) -> inspect.Signature:
    """A keyword-only constructor signature for ``table`` (for ``help`` and IDEs)."""
    self = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=p.default, annotation=p.allowed.hint()
        )
        for name, p in table.items()
    ]
    return inspect.Signature([self, *params])
