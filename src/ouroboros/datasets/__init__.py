"""Small tables bundled with the package, for the demo, examples and tests.

``adult``: 5,000 rows drawn at random (seed 20261121) from the training split of
the UCI Adult census data: Becker, B. & Kohavi, R. (1996), "Adult", UCI Machine
Learning Repository, doi:10.24432/C5XW20, licensed CC BY 4.0. Missing values
(``?`` in the original) are empty cells. Target: ``income``.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from ouroboros.errors import ParameterError

_BUNDLED = {
    "adult": {
        "file": "adult.csv.gz",
        "target": "income",
        "sensitive": "sex",
        "citation": "Becker & Kohavi (1996), UCI Adult, doi:10.24432/C5XW20, CC BY 4.0",
    },
}


def names() -> list[str]:
    """Names of the bundled tables."""
    return sorted(_BUNDLED)


def info(name: str) -> dict[str, str]:
    """Target column, sensitive column and citation of a bundled table."""
    _check(name)
    return dict(_BUNDLED[name])


def load(name: str) -> pd.DataFrame:
    """A bundled table as a DataFrame (a fresh copy each call)."""
    _check(name)
    with resources.files(__name__).joinpath("data", _BUNDLED[name]["file"]).open("rb") as fh:
        return pd.read_csv(fh, compression="gzip")


def _check(name: str) -> None:
    if name not in _BUNDLED:
        raise ParameterError(f"no bundled dataset {name!r}; bundled: {', '.join(names())}")
