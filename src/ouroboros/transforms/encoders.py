"""The one table of encoders by name, from which :class:`TableTransformer` builds its columns.

An encoder spec is a registered name (``"mode"``), a name with constructor
options (``("mode", {"max_modes": 5})``) or an unfitted encoder instance. A
new encoding is one class: subclass :class:`NumericEncoder` (continuous,
integer and datetime columns) or :class:`CategoricalEncoder`, give it a
``name``, keep its constructor arguments as attributes of the same names, and
:func:`register_encoder` it.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any, TypeVar

from ouroboros.errors import ParameterError
from ouroboros.transforms.categorical import CategoricalEncoder, OneHotEncoder, OrdinalEncoder
from ouroboros.transforms.numeric import (
    ModeEncoder,
    NumericEncoder,
    PublicBinEncoder,
    QuantileEncoder,
    StandardEncoder,
)

Encoder = NumericEncoder | CategoricalEncoder
EncoderSpec = str | tuple[str, dict[str, Any]] | NumericEncoder | CategoricalEncoder
_E = TypeVar("_E", bound=type)

#: every encoder by name; numeric and categorical names share the one table
ENCODERS: dict[str, type[NumericEncoder] | type[CategoricalEncoder]] = {
    cls.name: cls
    for cls in (
        StandardEncoder,
        QuantileEncoder,
        ModeEncoder,
        PublicBinEncoder,
        OneHotEncoder,
        OrdinalEncoder,
    )
}


def register_encoder(cls: _E) -> _E:
    """Add an encoder class to :data:`ENCODERS` under its ``name`` (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, (NumericEncoder, CategoricalEncoder))):
        raise ParameterError(
            f"an encoder must subclass NumericEncoder or CategoricalEncoder; got {cls!r}"
        )
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ParameterError(f"encoder {cls.__name__} needs a class attribute 'name'")
    known = ENCODERS.get(name)
    if known is not None and known is not cls:
        raise ParameterError(f"encoder name {name!r} is taken by {known.__name__}")
    ENCODERS[name] = cls
    return cls


def encoder_options(encoder: Encoder) -> dict[str, Any]:
    """The constructor arguments of an encoder, read back from its same-named attributes."""
    parameters = inspect.signature(type(encoder).__init__).parameters
    return {
        name: getattr(encoder, name)
        for name, p in parameters.items()
        if name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD and hasattr(encoder, name)
    }


def _parts(spec: EncoderSpec, key: str) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, str):
        return spec, {}
    if (
        isinstance(spec, (tuple, list))
        and len(spec) == 2
        and isinstance(spec[0], str)
        and isinstance(spec[1], dict)
    ):
        return spec[0], dict(spec[1])
    raise ParameterError(
        f"encoder for {key!r} must be a name, a (name, options) pair or an encoder; got {spec!r}"
    )


def make_encoder(spec: EncoderSpec, key: str, base: type) -> Encoder:
    """A fresh unfitted encoder of type ``base`` from ``spec`` (``key`` names it in errors)."""
    if isinstance(spec, (NumericEncoder, CategoricalEncoder)):
        encoder = copy.deepcopy(spec)
    else:
        name, options = _parts(spec, key)
        if name not in ENCODERS:
            raise ParameterError(
                f"encoder {name!r} for {key!r} is not registered; known are {sorted(ENCODERS)}"
            )
        try:
            encoder = ENCODERS[name](**options)
        except TypeError as exc:
            raise ParameterError(f"encoder {name!r} for {key!r}: bad options: {exc}") from exc
    if not isinstance(encoder, base):
        raise ParameterError(
            f"encoder {type(encoder).name!r} cannot encode {key!r} columns; give a {base.__name__}"
        )
    return encoder


def describe(spec: EncoderSpec, key: str) -> list:
    """``[name, options]``: the JSON form of a spec, from which it is rebuilt."""
    if isinstance(spec, (NumericEncoder, CategoricalEncoder)):
        return [type(spec).name, encoder_options(spec)]
    name, options = _parts(spec, key)
    return [name, options]
