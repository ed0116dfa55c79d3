"""Every registered generator passes the shared contract checks, one check per test;
the checks hold generators to what their tags promise."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from ouroboros import synthesizers
from ouroboros.synthesizers.base import Tags
from ouroboros.synthesizers.independent import IndependentSynthesizer
from ouroboros.testing import ALL_CHECKS, contract_table, fast_factory
from ouroboros.testing.sequences import ALL_SEQUENCE_CHECKS, sequence_table
from ouroboros.testing.synthesizers import (
    check_missing_values,
    check_native_conditioning,
    check_privacy_budget,
    check_same_seed_same_rows,
    check_tags_declared,
)

DATA = contract_table()


@pytest.mark.parametrize("name", synthesizers.names(include_unavailable=True))
@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
def test_contract(name, check):
    hint = synthesizers.install_hint(name)
    if hint is not None:
        pytest.skip(f"{name} needs an optional extra: {hint}")
    klass = synthesizers.get(name)
    if klass.tags.sequential:
        pytest.skip("a sequence generator: its contract is test_sequence_contract")
    check(fast_factory(klass), DATA)


SEQUENCE_DATA = sequence_table()


@pytest.mark.parametrize("name", synthesizers.names(include_unavailable=True))
@pytest.mark.parametrize("check", ALL_SEQUENCE_CHECKS, ids=lambda c: c.__name__)
def test_sequence_contract(name, check):
    hint = synthesizers.install_hint(name)
    if hint is not None:
        pytest.skip(f"{name} needs an optional extra: {hint}")
    klass = synthesizers.get(name)
    if not klass.tags.sequential:
        pytest.skip("a row generator: its contract is test_contract")
    check(fast_factory(klass), SEQUENCE_DATA)


# ------------------------------------------------------------------ the checks read the tags
class _Unseeded(IndependentSynthesizer):
    """Draws from fresh entropy whatever the seed."""

    def _sample(self, n, rng):
        return super()._sample(n, np.random.default_rng())


class _ClaimsDeterminism(_Unseeded):
    tags: ClassVar[Tags] = Tags(deterministic=True)


class _DeclaresNondeterminism(_Unseeded):
    tags: ClassVar[Tags] = Tags(deterministic=False)


class _ClaimsNative(IndependentSynthesizer):
    tags: ClassVar[Tags] = Tags(conditioning="native")


class _RefusesMissing(IndependentSynthesizer):
    tags: ClassVar[Tags] = Tags(handles_missing=False)


class _DropsMissing(IndependentSynthesizer):
    """Claims to model missing values but fills them all in."""

    def sample(self, n, seed=None, conditions=None):
        return super().sample(n, seed, conditions).ffill().bfill()


class _ClaimsPrivacy(IndependentSynthesizer):
    tags: ClassVar[Tags] = Tags(differential_privacy=True)


class _BadTags(IndependentSynthesizer):
    tags: ClassVar[Tags] = Tags(conditioning="magic")


def _factory(klass):
    return lambda seed: klass(seed=seed)


def test_a_deterministic_claim_is_checked_and_a_nondeterministic_generator_is_exempt():
    with pytest.raises(AssertionError):
        check_same_seed_same_rows(_factory(_ClaimsDeterminism), DATA)
    check_same_seed_same_rows(_factory(_DeclaresNondeterminism), DATA)


def test_native_conditioning_must_not_need_rejection():
    with pytest.raises(AssertionError, match="declare conditioning='rejection'"):
        check_native_conditioning(_factory(_ClaimsNative), DATA)


def test_missing_values_are_refused_clearly_or_reproduced():
    check_missing_values(_factory(_RefusesMissing), DATA)
    check_missing_values(_factory(IndependentSynthesizer), DATA)
    with pytest.raises(AssertionError, match="missing rate 0.000"):
        check_missing_values(_factory(_DropsMissing), DATA)


def test_privacy_claims_need_a_budget():
    with pytest.raises(AssertionError, match="'epsilon' and 'delta'"):
        check_privacy_budget(_factory(_ClaimsPrivacy), DATA)
    check_privacy_budget(_factory(IndependentSynthesizer), DATA)


def test_tags_must_take_known_values():
    with pytest.raises(AssertionError, match="'native' or 'rejection'"):
        check_tags_declared(_factory(_BadTags), DATA)
