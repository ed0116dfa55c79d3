"""The sequence spec: detection, checks, JSON round trip, sequence order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouroboros.errors import DataError, SchemaError
from ouroboros.schema import ColumnKind, Schema
from ouroboros.sequence_schema import SequenceSpec, constant_within, entity_order
from ouroboros.testing.sequences import sequence_schema, sequence_table


def test_static_columns_are_detected_and_the_spec_survives_json():
    table = sequence_table(30)
    schema = sequence_schema(table)
    assert schema.sequence == SequenceSpec("entity", "time", ["group"])
    again = Schema.from_json(schema.to_json())
    assert again.sequence == schema.sequence
    assert again.to_dict() == schema.to_dict()
    assert Schema.from_json(Schema.detect(table).to_json()).sequence is None


@settings(max_examples=30, deadline=None)
@given(
    key=st.sampled_from([None, "a", "b"]),
    index=st.sampled_from([None, "c"]),
    static=st.lists(st.sampled_from(["d", "e"]), unique=True),
)
def test_any_valid_spec_round_trips(key, index, static):
    spec = SequenceSpec(key, index, static if key else [])
    assert SequenceSpec.from_dict(spec.to_dict()) == spec
    assert spec.problems(list("abcde")) == []


def test_a_wrong_spec_names_its_problem():
    schema = Schema.detect(sequence_table(10)).to_dict()
    schema["sequence"] = {"key": "patient", "index": "time", "static": []}
    with pytest.raises(SchemaError, match="'patient'"):
        Schema.from_dict(schema)
    schema["sequence"] = {"key": None, "index": "time", "static": ["group"]}
    with pytest.raises(SchemaError, match="need a sequence key"):
        Schema.from_dict(schema)
    with pytest.raises(SchemaError, match="'static'"):
        SequenceSpec.from_dict({"key": "a", "static": "group"})


def test_a_missing_index_value_is_refused():
    table = sequence_table(10)
    table.loc[3, "time"] = None
    with pytest.raises(DataError, match="'time'"):
        Schema.detect(table).with_sequence(table, key="entity", index="time")


def test_an_identifier_index_becomes_an_integer():
    table = pd.DataFrame({"id": [5, 5, 6, 6, 6, 7, 8, 8, 9, 9, 9, 9], "step": range(12)})
    table["x"] = np.arange(12) * 1.5
    schema = Schema.detect(table)
    assert schema["step"].kind is ColumnKind.IDENTIFIER
    schema.with_sequence(table, key="id", index="step")
    assert schema["step"].kind is ColumnKind.INTEGER


def test_constant_within_ignores_columns_that_vary_and_counts_missing_as_a_value():
    table = pd.DataFrame(
        {
            "k": [1, 1, 2, 2],
            "s": [np.nan, np.nan, 3.0, 3.0],
            "v": [1, 2, 3, 3],
            "m": [1, np.nan, 2, 2],
        }
    )
    assert constant_within(table, "k") == ["s"]


def test_entity_order_sorts_by_key_then_time_and_keeps_ties():
    table = pd.DataFrame({"k": ["b", "a", "b", "a", "b"], "t": [3, 2, 1, 2, 1]})
    order, lengths = entity_order(table, SequenceSpec("k", "t"))
    assert order.tolist() == [2, 4, 0, 1, 3]
    assert lengths.tolist() == [3, 2]
