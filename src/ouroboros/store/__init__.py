"""The store: runs (configuration, per-generation metrics, artifact paths, provenance),
the lineage catalog (records and row hashes of tables, by content hash) and the privacy
ledger, behind the :class:`Store` interface and chosen by URL.

``sqlite:///runs.db`` (a path relative to the working folder) or
``sqlite:////abs/path/runs.db`` select the default, embedded :class:`SQLiteStore`;
``postgresql://USER@HOST:PORT/DATABASE`` (any libpq URL; the ``postgres`` extra) a
:class:`~ouroboros.store.postgres.PostgresStore` that a team shares. Both run the same
migrations (:mod:`ouroboros.store.migrations`) and keep the same concurrency contract.
"""

from __future__ import annotations

import os
from pathlib import Path

from ouroboros.errors import StoreError
from ouroboros.store.base import METRIC_COLUMNS, PROVENANCE_COLUMNS, STATUSES, Run, Store
from ouroboros.store.migrations import SCHEMA_VERSION
from ouroboros.store.postgres import PostgresStore
from ouroboros.store.sqlite import SQLiteStore

DEFAULT_URL = "sqlite:///runs.db"
#: URL schemes of a PostgreSQL store (as libpq reads them)
POSTGRES_SCHEMES = ("postgresql", "postgres")
#: environment variable naming the store the CLI uses when ``--store`` is not given
STORE_ENV = "OUROBOROS_STORE"


def default_url() -> str:
    """``$OUROBOROS_STORE`` if set, else :data:`DEFAULT_URL`."""
    return os.environ.get(STORE_ENV) or DEFAULT_URL


def is_postgres(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL store."""
    return str(url).partition("://")[0] in POSTGRES_SCHEMES and "://" in str(url)


def store_path(url: str | None = None) -> Path:
    """The file the SQLite store URL ``url`` (default :func:`default_url`) names; nothing
    is opened."""
    url = default_url() if url is None else str(url)
    scheme, sep, rest = url.partition("://")
    if not sep:
        path = url
    elif scheme == "sqlite" and rest.startswith("/") and len(rest) > 1:
        path = rest[1:]
    else:
        raise StoreError(
            f"cannot open the run store {url!r}: expected sqlite:///PATH (e.g. {DEFAULT_URL}, "
            "or sqlite:////absolute/path.db) or postgresql://USER@HOST:PORT/DATABASE"
        )
    if path in ("", ":memory:"):
        raise StoreError(f"the run store {url!r} must be a file, shared by every process")
    return Path(path).expanduser()


def open_store(url: str | None = None, *, timeout: float = 60.0, create: bool = True) -> Store:
    """Open (and migrate to the newest schema) the store at ``url``.

    ``url`` defaults to :func:`default_url`; a bare path is read as an SQLite file, a
    ``postgresql://`` URL is handed to libpq as it is.
    ``timeout`` is how long a writer waits for a busy store; ``create=False``
    refuses to create a store that does not exist yet (for read-only commands).
    """
    url = default_url() if url is None else str(url)
    store: Store
    if is_postgres(url):
        store = PostgresStore(url, timeout=timeout, create=create)
    else:
        store = SQLiteStore(store_path(url), timeout=timeout, create=create)
    store.migrate()  # now, so that a bad file or a newer schema is reported here
    return store


def store_exists(url: str | None = None) -> bool:
    """Whether a store exists at ``url`` (default :func:`default_url`); creates nothing."""
    url = default_url() if url is None else str(url)
    if is_postgres(url):
        return PostgresStore(url).exists()
    return store_path(url).exists()


__all__ = [
    "DEFAULT_URL",
    "POSTGRES_SCHEMES",
    "METRIC_COLUMNS",
    "PROVENANCE_COLUMNS",
    "SCHEMA_VERSION",
    "STATUSES",
    "STORE_ENV",
    "PostgresStore",
    "Run",
    "SQLiteStore",
    "Store",
    "default_url",
    "is_postgres",
    "open_store",
    "store_exists",
    "store_path",
]
