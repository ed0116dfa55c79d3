"""Hyper-parameters declared once in a table: inherited, defaulted, validated, listed."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import pytest

from ouroboros import synthesizers
from ouroboros.errors import ParameterError
from ouroboros.synthesizers.independent import IndependentSynthesizer
from ouroboros.synthesizers.neural import NeuralSynthesizer
from ouroboros.synthesizers.params import Boolean, Integer, Number, OneOf, Param
from ouroboros.testing import contract_table

LOOP = [
    "epochs",
    "batch_size",
    "time_budget",
    "early_stopping",
    "patience",
    "validation_fraction",
    "device",
    "n_threads",
    "verbose",
]


@pytest.mark.parametrize("name", ["ctgan", "tvae", "tabddpm"])
def test_neural_generators_list_the_inherited_loop_parameters(name):
    klass = synthesizers.get(name)
    names = klass.param_names()
    assert names[0] == "seed" and set(LOOP) <= set(names)
    assert list(inspect.signature(klass).parameters) == names
    model = synthesizers.create(name, patience=3, seed=1)
    assert model.get_params()["patience"] == 3 and model.get_params()["seed"] == 1
    assert model.set_params(verbose=True).verbose is True


def test_subclasses_change_inherited_defaults():
    defaults = {n: synthesizers.get(n).param_defaults() for n in ("ctgan", "tvae", "tabddpm")}
    assert [d["epochs"] for d in defaults.values()] == [None, 80, 70]
    assert [d["batch_size"] for d in defaults.values()] == [1000, 500, 512]
    assert NeuralSynthesizer.param_defaults()["device"] == "cpu"


def test_loop_settings_are_built_by_keyword_from_the_parameters():
    model = synthesizers.create("tvae", epochs=4, batch_size=32, patience=2, verbose=True)
    settings = model._loop_settings()
    assert (settings.epochs, settings.batch_size, settings.patience) == (4, 32, 2)
    assert settings.verbose and settings.description == "TVAE"
    assert model._loop_settings(epochs=9).epochs == 9


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"epochs": 0}, "parameter 'epochs' of TVAESynthesizer must be an integer >= 1; got 0"),
        ({"validation_fraction": 1}, r"'validation_fraction' .* a float in \(0, 0.5\)"),
        ({"time_budget": -1}, "'time_budget' .* None or a number > 0"),
        ({"early_stopping": 1}, "'early_stopping' .* a bool"),
        ({"n_threads": 0}, "'n_threads' .* None or an integer >= 1"),
        ({"seed": True}, "'seed' .* None or an integer; got True"),
    ],
)
def test_values_are_checked_at_fit_with_one_message_shape(params, message):
    model = synthesizers.create("tvae", **params)  # constructors only store
    with pytest.raises(ParameterError, match=message):
        model.fit(contract_table(50))


def test_unknown_parameters_are_refused_everywhere():
    with pytest.raises(ParameterError, match=r"no parameters \['epochz'\]"):
        synthesizers.get("tvae")(epochz=1)
    with pytest.raises(ParameterError, match=r"no parameters \['epochz'\]"):
        synthesizers.create("tvae").set_params(epochz=1)


def test_constraints_describe_what_they_allow():
    assert Integer(2).accepts(3) and not Integer(2).accepts(True) and not Integer(2).accepts(1)
    assert Number(0, 1).accepts(0.0) and not Number(0, 1).accepts(1.0)
    assert Number(0, 1, closed="both").accepts(1) and not Number(0, floats=True).accepts(1)
    assert Boolean().accepts(False) and not Boolean().accepts(0)
    assert OneOf(("a", "b")).accepts("a") and not OneOf(("a", "b")).accepts("c")
    assert OneOf(("a", "b")).description == "one of 'a', 'b'"


class _Tabled(IndependentSynthesizer):
    """A generator that adds a parameter through the table."""

    parameters: ClassVar[dict[str, Param]] = {"depth": Param(3, Integer(1))}
    defaults: ClassVar[dict[str, Any]] = {"seed": 5}


class _Explicit(IndependentSynthesizer):
    """A plugin writing its own constructor, as before the tables."""

    def __init__(self, *, limit: int = 10, seed: int | None = None):
        self.limit = limit
        self.seed = seed


def test_a_table_and_an_explicit_constructor_both_declare_parameters():
    assert _Tabled.param_names() == ["seed", "depth"]
    assert _Tabled().get_params() == {"seed": 5, "depth": 3}
    with pytest.raises(ParameterError, match="'depth' of _Tabled"):
        _Tabled(depth=0).fit(contract_table(50))
    assert _Explicit.param_names() == ["limit", "seed"]
    assert _Explicit(limit=2).get_params() == {"limit": 2, "seed": None}
    with pytest.raises(ParameterError, match="'seed' of _Explicit"):
        _Explicit(seed="x").fit(contract_table(50))


def test_defaults_must_name_an_inherited_parameter():
    with pytest.raises(TypeError, match="unknown parameter 'nope'"):
        type("Bad", (IndependentSynthesizer,), {"defaults": {"nope": 1}})


def test_set_params_checks_each_value_at_once():
    model = synthesizers.create("tvae")
    with pytest.raises(ParameterError, match="'epochs' of TVAESynthesizer must be an integer >= 1"):
        model.set_params(epochs=0)
    assert model.epochs == synthesizers.get("tvae").param_defaults()["epochs"]
    assert model.set_params(epochs=3, n_threads=None).epochs == 3
