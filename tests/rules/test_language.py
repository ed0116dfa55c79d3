"""The rule language: each form parses, prints back, evaluates; bad rules are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ouroboros.rules import Columns, RuleError, parse, parse_all, violations
from ouroboros.rules.language import Conditional, Dependency, Expression, Fixed


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "start": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", None]),
            "end": pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-05", "2024-01-09"]),
            "price": [10.0, 20.0, 5.0, 1.0],
            "tip": [1.0, 0.0, -1.0, np.nan],
            "total": [11.0, 20.5, 3.0, 2.0],
            "payment": ["card", "cash", "cash", None],
            "education": ["a", "a", "b", "b"],
            "education-num": [1, 1, 2, 3],
        }
    )


def broken(rule: str, table: pd.DataFrame, reference: pd.DataFrame | None = None) -> list[int]:
    ref = None if reference is None else Columns(reference)
    return np.flatnonzero(violations(parse(rule, table.columns), Columns(table), ref)).tolist()


@pytest.mark.parametrize(
    ("rule", "rows"),
    [
        ("end > start", [1]),  # row 3 has no start: unknown, not broken
        ("end > '2024-01-01 12:00'", [1]),
        ("total >= price + tip", [2]),
        ("0 <= tip", [2]),
        ("abs(tip) <= 1 and price > 1", [3]),
        ("price > 100 or tip == 1", [1, 2]),
        ("isnull(start) == isnull(tip)", []),
        ("isnull(payment) == isnull(tip)", []),
        ("if payment == 'cash' then tip == 0", [2]),
        ("education -> `education-num`", [3]),
        ("education -> education-num", [3]),
        ("1 <= `education-num` <= 2", [3]),
    ],
)
def test_each_form_evaluates(table, rule, rows):
    assert broken(rule, table) == rows


def test_forms_and_round_trip(table):
    forms = {
        "end > start": Expression,
        "if payment == 'cash' then tip == 0": Conditional,
        "education -> education-num": Dependency,
        "fixed(payment, education)": Fixed,
    }
    for text, kind in forms.items():
        rule = parse(text, table.columns)
        assert isinstance(rule, kind)
        assert parse(rule.to_string(), table.columns) == rule
    assert parse("education -> education-num", table.columns).to_string() == (
        "education -> `education-num`"
    )
    assert parse("a - (b - c) == a * (b + c) / 2").to_string() == "a - (b - c) == a * (b + c) / 2"
    assert parse("x == -y").to_string() == "x == -y"


def test_fixed_combinations_need_the_reference(table):
    other = table.assign(payment=["cash", "card", "cash", "card"])
    assert broken("fixed(payment, education)", other) == []
    assert broken("fixed(payment, education)", other, reference=table) == [3]


def test_dependency_against_a_reference(table):
    swapped = table.assign(**{"education-num": [2, 2, 2, 2]})
    assert broken("education -> education-num", swapped, reference=table) == [0, 1]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("end >> start", "BinOp is not allowed in a rule at position 0"),
        ("price > 1 >", "invalid syntax"),
        ("end > ", "position"),
        ("__import__('os') == 0", "unknown function '__import__'"),
        ("__import__('os').system('x') == 0", "Call is not allowed"),
        ("(price := 1) > 0", "NamedExpr is not allowed"),
        ("price.real > 0", "Attribute is not allowed in a rule at position 0"),
        ("price[0] > 0", "Subscript is not allowed"),
        ("nope > 1", "unknown column 'nope' at position 0"),
        ("`price > 1", "unclosed backquote at position 0"),
        ("if price > 1", "'if' without 'then'"),
        ("price -> price", "on both sides"),
        ("fixed(price)", "two columns or more"),
        ("price, 1 -> tip", "expected column names at position 7"),
        ("lambda: 1", "Lambda is not allowed"),
        ("", "non-empty string"),
    ],
)
def test_parse_errors_name_the_rule_and_position(table, rule, message):
    with pytest.raises(RuleError, match="rule|non-empty") as info:
        parse(rule, table.columns)
    assert message in str(info.value)
    if rule:
        assert repr(rule) in str(info.value)


def test_parse_all_lists_every_bad_rule(table):
    with pytest.raises(RuleError) as info:
        parse_all(["nope > 1", "end > start", "price >> 2"], table.columns)
    assert len(info.value.problems) == 2


def test_text_cannot_be_ordered_nor_added(table):
    with pytest.raises(RuleError, match="orders numbers"):
        broken("payment < 'z'", table)
    with pytest.raises(RuleError, match="needs numbers"):
        broken("payment + 1 > 0", table)
