"""Every registered generator passes the shared contract checks, one check per test."""

import pytest

from ouroboros import synthesizers
from ouroboros.testing import ALL_CHECKS, contract_table

DATA = contract_table()


def factory_for(name):
    klass = synthesizers.get(name)
    return lambda seed: klass(seed=seed, **klass.test_params)


@pytest.mark.parametrize("name", synthesizers.list())
@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
def test_contract(name, check):
    check(factory_for(name), DATA)
