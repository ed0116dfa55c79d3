"""Store fixtures: every store test runs on SQLite and on a real PostgreSQL server.

The server is a throwaway cluster (see ``pgserver.py``), one per test process, started
on first use; each test gets a schema of its own in it, named by the URL's
``options=-csearch_path``. The PostgreSQL cases skip only where neither the server
binaries nor a package manager to install them (``make postgres``) exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pgserver
import pytest

from ouroboros.store import Store, open_store

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pgserver.Server]:
    reason = pgserver.missing_reason()
    if reason is not None:
        pytest.skip(reason)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.fail("the PostgreSQL store needs psycopg 3: pip install -e '.[postgres]'")
    try:
        server = pgserver.start()
    except RuntimeError as exc:
        pytest.fail(f"could not start a throwaway PostgreSQL server: {exc}")
    yield server
    server.stop()


def new_schema(server: pgserver.Server) -> str:
    """The URL of a new, empty schema in the test server's database."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{server.url()}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def store_url(backend, tmp_path, request) -> str:
    """The URL of a store that does not exist yet, on each backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    return new_schema(request.getfixturevalue("postgres_server"))


@pytest.fixture
def store(store_url) -> Iterator[Store]:
    with open_store(store_url) as opened:
        yield opened
