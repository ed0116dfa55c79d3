"""The one table of encoders: a registered name is all a new encoding needs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pandas.testing import assert_frame_equal

from ouroboros.errors import ModelFileError, ParameterError
from ouroboros.schema import Schema
from ouroboros.transforms import ModeEncoder, OneHotEncoder, Span, TableTransformer
from ouroboros.transforms.encoders import (
    ENCODERS,
    describe,
    encoder_options,
    make_encoder,
    register_encoder,
)
from ouroboros.transforms.numeric import NumericEncoder


class Halves(NumericEncoder):
    """``x / scale`` in one linear column: a stand-in for a new encoding."""

    name = "halves"

    def __init__(self, scale: float = 2.0):
        self.scale = scale

    def fit(self, values, rng):
        self.fitted_ = True
        return self

    def transform(self, values, rng=None, out=None):
        block = np.empty((len(values), 1)) if out is None else out
        block[:, 0] = np.asarray(values, dtype=np.float64) / self.scale
        return block

    def inverse(self, block):
        return np.asarray(block, dtype=np.float64)[:, 0] * self.scale

    def spans(self, column: str) -> list[Span]:
        return [Span(column, "value", 1, "linear")]

    def to_state(self) -> dict[str, Any]:
        return {"type": self.name, "scale": self.scale}

    @classmethod
    def from_state(cls, state):
        encoder = cls(scale=float(state["scale"]))
        encoder.fitted_ = True
        return encoder


@pytest.fixture
def halves():
    assert register_encoder(Halves) is Halves
    yield Halves
    ENCODERS.pop("halves", None)


def test_builtin_table_names_every_encoder():
    assert set(ENCODERS) == {"standard", "quantile", "mode", "onehot", "ordinal", "public_bins"}
    assert all(cls.name == name for name, cls in ENCODERS.items())


def test_registered_encoder_is_used_by_name(halves, mixed_table, rng):
    schema = Schema.detect(mixed_table)
    transformer = TableTransformer(schema, encoders={"continuous": ("halves", {"scale": 4.0})})
    transformer.fit(mixed_table, rng)
    spans = transformer.spans_for("amount")
    assert [(s.kind, s.width, s.activation) for *_, s in spans] == [
        ("value", 1, "linear"),
        ("missing", 2, "softmax"),
    ]
    start = spans[0][0]
    matrix = transformer.transform(mixed_table)
    amount = mixed_table["amount"].to_numpy()
    present = ~np.isnan(amount)
    np.testing.assert_allclose(matrix[present, start], amount[present] / 4.0, rtol=1e-6)
    # integer and datetime columns keep the default, mode-specific normalisation
    assert [s.kind for _, _, s in transformer.spans_for("count")] == ["value", "mode"]
    assert transformer.get_params()["encoders"]["continuous"] == ["halves", {"scale": 4.0}]
    clone = TableTransformer.from_state(transformer.to_state(), schema)
    np.testing.assert_array_equal(clone.transform(mixed_table), matrix)
    noise = rng.normal(size=(20, transformer.output_dim))
    assert_frame_equal(
        clone.inverse_transform(noise, np.random.default_rng(1)),
        transformer.inverse_transform(noise, np.random.default_rng(1)),
    )


def test_instances_are_copied_per_column_and_described(mixed_table, rng):
    mode = ModeEncoder(max_modes=3)
    transformer = TableTransformer(Schema.detect(mixed_table), encoders={"numeric": mode})
    transformer.fit(mixed_table, rng)
    assert not hasattr(mode, "means_"), "the given instance stays unfitted"
    encoders = [c.encoder for c in transformer.columns_ if hasattr(c, "converter")]
    assert len(encoders) == 3 and len({id(e) for e in encoders}) == 3
    assert all(e.max_modes == 3 and e.n_modes <= 4 for e in encoders)
    params = transformer.get_params()["encoders"]
    assert params["numeric"] == ["mode", {"max_modes": 3, "max_rows": 20_000, "point_share": 0.05}]
    assert params["categorical"] == ["onehot", {}]
    assert TableTransformer(transformer.schema, **transformer.get_params()).encoders == params


def test_spec_helpers():
    assert encoder_options(OneHotEncoder(max_categories=7)) == {"max_categories": 7}
    assert describe(("quantile", {"max_rows": 9}), "numeric") == ["quantile", {"max_rows": 9}]
    encoder = make_encoder(["quantile", {"max_rows": 9}], "numeric", NumericEncoder)
    assert encoder.max_rows == 9


def test_registration_errors(halves, mixed_table, rng):
    class Nameless(Halves):
        name = ""

    class Other(Halves):
        pass

    with pytest.raises(ParameterError, match="subclass"):
        register_encoder(dict)
    with pytest.raises(ParameterError, match="'name'"):
        register_encoder(Nameless)
    with pytest.raises(ParameterError, match="taken by Halves"):
        register_encoder(Other)
    assert register_encoder(Halves) is Halves, "registering again is harmless"
    transformer = TableTransformer(Schema.detect(mixed_table), encoders={"numeric": "halves"})
    state = transformer.fit(mixed_table, rng).to_state()
    ENCODERS.pop("halves")
    with pytest.raises(ModelFileError, match="'halves' for 'numeric' is not registered"):
        TableTransformer.from_state(state, transformer.schema)


def test_version_one_state_is_read_as_encoders(mixed_table, rng):
    schema = Schema.detect(mixed_table)
    state = TableTransformer(schema).fit(mixed_table, rng).to_state()
    old = {
        **state,
        "version": 1,
        "params": {
            "numeric": "quantile",
            "categorical": "ordinal",
            "max_categories": 50,
            "quantile_max_rows": 1000,
        },
    }
    params = TableTransformer.from_state(old, schema).get_params()["encoders"]
    assert params == {
        "numeric": ["quantile", {"max_rows": 1000}],
        "categorical": ["ordinal", {"max_categories": 50}],
    }
