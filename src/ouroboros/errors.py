"""Exceptions and warnings raised by ouroboros.

Every exception derives from :class:`OuroborosError`; each subclass also inherits
the built-in exception it refines, so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class OuroborosError(Exception):
    """Root of every error raised by ouroboros."""


class OuroborosWarning(UserWarning):
    """Root of every warning emitted by ouroboros."""


class DataError(OuroborosError, ValueError):
    """The input table cannot be used as it is (empty, mixed types, inf...)."""


class SchemaError(OuroborosError, ValueError):
    """A schema is invalid or does not match the data; lists every problem at once."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__(
            self.problems[0]
            if len(self.problems) == 1
            else f"{len(self.problems)} problems:\n" + "\n".join(f"- {p}" for p in self.problems)
        )


class ParameterError(OuroborosError, ValueError):
    """A parameter is out of its allowed range or of the wrong type."""


class NotFittedError(OuroborosError, AttributeError):
    """A model was used before ``fit``."""


class ModelFileError(OuroborosError, ValueError):
    """A model file is truncated, tampered with, of an unknown class or a newer format."""


class FileFormatError(OuroborosError, ValueError):
    """A file is neither CSV nor Parquet, or cannot be parsed."""


class ConditionError(OuroborosError, ValueError):
    """A sampling condition cannot be met (unseen category, impossible range)."""


class MissingDependencyError(OuroborosError, ImportError):
    """An optional dependency is needed; the message says how to install it."""


class CollapseError(OuroborosError, RuntimeError):
    """A collapse experiment cannot run as configured."""


class StoreError(OuroborosError, RuntimeError):
    """The run store cannot be read or written."""


class DataWarning(OuroborosWarning):
    """The data was changed to make it usable (e.g. a column was dropped)."""


def check_param(name: str, value, ok: bool, allowed: str) -> None:
    """Raise a uniform :class:`ParameterError` when ``ok`` is false."""
    if not ok:
        raise ParameterError(f"parameter {name!r} must be {allowed}; got {value!r}")
