"""One explicit registry of metrics; third-party metrics through entry points.

Built-in metrics are listed by category module. A package adds its own under
the entry-point group ``ouroboros.metrics`` (``name = "module:Class"``), or a
session registers one with :func:`register`. Names are used at the CLI and
config boundary; Python code may pass classes or instances.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from ouroboros.errors import ParameterError
from ouroboros.metrics import (
    attacks,
    causal,
    collapse,
    detection,
    diversity,
    fairness,
    fidelity,
    privacy,
    rules,
    sequence,
    sequence_collapse,
    utility,
)
from ouroboros.metrics.base import CATEGORIES, DIRECTIONS, REQUIREMENTS, SENSITIVITIES, Metric

ENTRY_POINT_GROUP = "ouroboros.metrics"

_MODULES = (
    fidelity,
    rules,
    detection,
    diversity,
    privacy,
    attacks,
    utility,
    fairness,
    causal,
    collapse,
    sequence,
    sequence_collapse,
)
_BUILTIN: dict[str, type[Metric]] = {m.name: m for module in _MODULES for m in module.METRICS}
_REGISTERED: dict[str, type[Metric]] = {}


def _plugins() -> dict:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def check_metric_class(klass: object, name: str | None = None) -> type[Metric]:
    """Raise :class:`ParameterError` unless ``klass`` is a well-described Metric subclass."""
    if not (isinstance(klass, type) and issubclass(klass, Metric)):
        raise ParameterError(f"metric {name or klass!r} does not subclass ouroboros Metric")
    problems = []
    for attribute in ("name", "category", "direction", "best", "worst"):
        if not hasattr(klass, attribute):
            problems.append(f"it has no class attribute {attribute!r}")
    if not problems:
        if klass.category not in CATEGORIES:
            problems.append(f"category {klass.category!r} is not one of {CATEGORIES}")
        if klass.direction not in DIRECTIONS:
            problems.append(f"direction {klass.direction!r} is not one of {DIRECTIONS}")
        if not set(klass.requires) <= set(REQUIREMENTS):
            problems.append(f"requires {sorted(klass.requires)} beyond {REQUIREMENTS}")
        if klass.sensitive_to not in SENSITIVITIES:
            problems.append(f"sensitive_to {klass.sensitive_to!r} is not one of {SENSITIVITIES}")
        if klass.best == klass.worst:
            problems.append("best and worst must differ")
    if problems:
        raise ParameterError(f"metric {name or klass.__name__!r}: " + "; ".join(problems))
    return klass


def register(klass: type[Metric]) -> type[Metric]:
    """Add a metric class to the registry for this session (usable as a decorator)."""
    check_metric_class(klass)
    if klass.name in _BUILTIN:
        raise ParameterError(f"metric name {klass.name!r} is taken by a built-in metric")
    _REGISTERED[klass.name] = klass
    return klass


def names() -> list[str]:
    """Names of every available metric: built-in first (by category), then added ones."""
    extra = (set(_REGISTERED) | set(_plugins())) - set(_BUILTIN)
    return [*_BUILTIN, *sorted(extra)]


def get(name: str) -> type[Metric]:
    """The metric class registered under ``name``."""
    if name in _BUILTIN:
        return _BUILTIN[name]
    if name in _REGISTERED:
        return _REGISTERED[name]
    plugins = _plugins()
    if name not in plugins:
        raise ParameterError(f"unknown metric {name!r}; available: {', '.join(names())}")
    klass = check_metric_class(plugins[name].load(), name)
    if klass.name != name:
        raise ParameterError(
            f"entry point {name!r} loads metric {klass.name!r}; the names must agree"
        )
    return klass


def resolve(metrics) -> list[Metric]:
    """Metric instances from names, classes or instances (``None``: every metric)."""
    if metrics is None:
        return [get(name)() for name in names()]
    if isinstance(metrics, (str, Metric, type)):
        metrics = [metrics]
    out = []
    for item in metrics:
        if isinstance(item, str):
            out.append(get(item)())
        elif isinstance(item, Metric):
            check_metric_class(type(item))
            out.append(item)
        else:
            out.append(check_metric_class(item)())
    chosen = [m.name for m in out]
    duplicated = sorted({n for n in chosen if chosen.count(n) > 1})
    if duplicated:
        raise ParameterError(f"parameter 'metrics': {duplicated} given more than once")
    return out
