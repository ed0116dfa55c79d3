"""One explicit registry of generators; plugins through entry points.

Built-in generators are listed here by name, each with the imports it needs and the
optional extra that provides them (imported lazily, so that torch is only imported for
the neural ones). Third-party packages add theirs under the entry-point group
``ouroboros.synthesizers``. Names are used at the CLI and config boundary only; Python
code passes classes or instances.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from ouroboros.errors import MissingDependencyError, ParameterError

if TYPE_CHECKING:
    from ouroboros.synthesizers.base import Synthesizer

ENTRY_POINT_GROUP = "ouroboros.synthesizers"
DISTRIBUTION = "ouroboros-synth"


@dataclass(frozen=True)
class Builtin:
    """A built-in generator: ``"module:Class"``, the top-level modules it imports beyond
    the core dependencies, and the optional extra of ``ouroboros-synth`` that installs them."""

    target: str
    requires: tuple[str, ...] = ()
    extra: str | None = None

    def missing(self) -> list[str]:
        """The required modules that are not installed."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]

    def install_command(self) -> str:
        if self.extra is None:
            return "pip install " + " ".join(self.missing() or self.requires)
        return f"pip install '{DISTRIBUTION}[{self.extra}]'"


_BUILTIN = {
    "independent": Builtin("ouroboros.synthesizers.independent:IndependentSynthesizer"),
    "gaussian_copula": Builtin("ouroboros.synthesizers.gaussian_copula:GaussianCopulaSynthesizer"),
    "ctgan": Builtin("ouroboros.synthesizers.ctgan:CTGANSynthesizer", ("torch",)),
    "tvae": Builtin("ouroboros.synthesizers.tvae:TVAESynthesizer", ("torch",)),
    "tabddpm": Builtin("ouroboros.synthesizers.tabddpm:TabDDPMSynthesizer", ("torch",)),
    "argn": Builtin("ouroboros.synthesizers.argn:ARGNSynthesizer", ("torch",)),
    "causal": Builtin("ouroboros.synthesizers.causal:CausalSynthesizer"),
    "mst": Builtin("ouroboros.synthesizers.mst:MSTSynthesizer"),
    "aim": Builtin("ouroboros.synthesizers.aim:AIMSynthesizer"),
    "sequence": Builtin("ouroboros.synthesizers.sequence:SequenceGRUSynthesizer", ("torch",)),
    "sequence_bootstrap": Builtin(
        "ouroboros.synthesizers.sequence_bootstrap:SequenceBootstrapSynthesizer"
    ),
}


def _plugins() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def names(include_unavailable: bool = False) -> list[str]:
    """Names of the generators that can be used, built-in first; with
    ``include_unavailable``, also the built-ins whose optional extra is not installed."""
    builtins = [n for n, b in _BUILTIN.items() if include_unavailable or not b.missing()]
    return [*builtins, *sorted(set(_plugins()) - set(_BUILTIN))]


def install_hint(name: str) -> str | None:
    """The command that installs what the built-in ``name`` lacks (``None``: nothing)."""
    entry = _BUILTIN.get(name)
    if entry is None or not entry.missing():
        return None
    return entry.install_command()


def get(name: str) -> type[Synthesizer]:
    """The generator class registered under ``name``.

    Raises :class:`MissingDependencyError` (an ``ImportError``) naming the extra to install
    when a built-in's optional dependencies are missing.
    """
    from ouroboros.synthesizers.base import Synthesizer

    if name in _BUILTIN:
        entry = _BUILTIN[name]
        missing = entry.missing()
        if missing:
            extra = f"the optional extra {entry.extra!r}" if entry.extra else "more packages"
            raise MissingDependencyError(
                f"synthesizer {name!r} needs {extra} ({', '.join(missing)} not installed); "
                f"install it with: {entry.install_command()}"
            )
        module, attr = entry.target.split(":")
        klass = getattr(importlib.import_module(module), attr)
    else:
        plugins = _plugins()
        if name not in plugins:
            raise ParameterError(f"unknown synthesizer {name!r}; available: {', '.join(names())}")
        klass = plugins[name].load()
    if not (isinstance(klass, type) and issubclass(klass, Synthesizer)):
        raise ParameterError(f"synthesizer {name!r} does not subclass ouroboros Synthesizer")
    return klass


def create(name: str, **params: Any) -> Synthesizer:
    """An unfitted generator ``name`` with ``params``."""
    klass = get(name)
    unknown = set(params) - set(klass.param_names())
    if unknown:
        raise ParameterError(
            f"synthesizer {name!r} has no parameters {sorted(unknown)}; "
            f"it takes {klass.param_names()}"
        )
    return klass(**params)


def load(path: Any) -> Synthesizer:
    """Load any model file written by ``Synthesizer.save``."""
    from ouroboros.synthesizers.base import Synthesizer

    return Synthesizer.load(path)
