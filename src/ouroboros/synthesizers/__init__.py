"""Generators: the :class:`Synthesizer` contract, the registry and the built-ins.

>>> from ouroboros import synthesizers
>>> model = synthesizers.create("gaussian_copula", seed=0).fit(table)  # doctest: +SKIP
>>> synthetic = model.sample(1000, seed=1)  # doctest: +SKIP
"""

from ouroboros.synthesizers.base import Synthesizer, Tags
from ouroboros.synthesizers.registry import create, get, install_hint, load, names

__all__ = ["Synthesizer", "Tags", "create", "get", "install_hint", "load", "names"]
