"""Reversible, vectorised transforms between tables and float32 matrices.

:class:`TableTransformer` composes per-column encoders from a
:class:`~ouroboros.schema.Schema`, taking encoders by name from :data:`ENCODERS`;
the encoders are usable on their own.
"""

from ouroboros.transforms.base import Span
from ouroboros.transforms.categorical import (
    OTHER,
    CategoricalEncoder,
    OneHotEncoder,
    OrdinalEncoder,
)
from ouroboros.transforms.encoders import ENCODERS, register_encoder
from ouroboros.transforms.identifiers import ConstantFiller, IdentifierGenerator
from ouroboros.transforms.numeric import (
    ModeEncoder,
    NumericEncoder,
    QuantileEncoder,
    StandardEncoder,
)
from ouroboros.transforms.table import TableTransformer
from ouroboros.transforms.values import DatetimeConverter, NumberConverter

__all__ = [
    "ENCODERS",
    "OTHER",
    "CategoricalEncoder",
    "ConstantFiller",
    "DatetimeConverter",
    "IdentifierGenerator",
    "ModeEncoder",
    "NumberConverter",
    "NumericEncoder",
    "OneHotEncoder",
    "OrdinalEncoder",
    "QuantileEncoder",
    "Span",
    "StandardEncoder",
    "TableTransformer",
    "register_encoder",
]
