"""The run store: runs, their configuration, per-generation metrics, artifact paths and
provenance, behind the :class:`Store` interface and chosen by URL.

``sqlite:///runs.db`` (a path relative to the working folder) or
``sqlite:////abs/path/runs.db`` select the default :class:`SQLiteStore`; a server
database can implement :class:`Store` and be added to :func:`open_store`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ouroboros.errors import StoreError
from ouroboros.store.base import METRIC_COLUMNS, PROVENANCE_COLUMNS, STATUSES, Run, Store
from ouroboros.store.sqlite import SCHEMA_VERSION, SQLiteStore

DEFAULT_URL = "sqlite:///runs.db"
#: environment variable naming the store the CLI uses when ``--store`` is not given
STORE_ENV = "OUROBOROS_STORE"


def default_url() -> str:
    """``$OUROBOROS_STORE`` if set, else :data:`DEFAULT_URL`."""
    return os.environ.get(STORE_ENV) or DEFAULT_URL


def store_path(url: str | None = None) -> Path:
    """The file the store URL ``url`` (default :func:`default_url`) names; nothing is opened."""
    url = default_url() if url is None else str(url)
    scheme, sep, rest = url.partition("://")
    if not sep:
        path = url
    elif scheme == "sqlite" and rest.startswith("/") and len(rest) > 1:
        path = rest[1:]
    else:
        raise StoreError(
            f"cannot open the run store {url!r}: expected sqlite:///PATH (e.g. {DEFAULT_URL}, "
            "or sqlite:////absolute/path.db)"
        )
    if path in ("", ":memory:"):
        raise StoreError(f"the run store {url!r} must be a file, shared by every process")
    return Path(path).expanduser()


def open_store(url: str | None = None, *, timeout: float = 60.0, create: bool = True) -> Store:
    """Open (and migrate to the newest schema) the store at ``url``.

    ``url`` defaults to :func:`default_url`; a bare path is read as an SQLite file.
    ``timeout`` is how long a writer waits for a busy store; ``create=False``
    refuses to create a store that does not exist yet (for read-only commands).
    """
    store = SQLiteStore(store_path(url), timeout=timeout, create=create)
    store.migrate()  # now, so that a bad file or a newer schema is reported here
    return store


__all__ = [
    "DEFAULT_URL",
    "METRIC_COLUMNS",
    "PROVENANCE_COLUMNS",
    "SCHEMA_VERSION",
    "STATUSES",
    "STORE_ENV",
    "Run",
    "SQLiteStore",
    "Store",
    "default_url",
    "open_store",
    "store_path",
]
