"""The store's schema, one migration per version, shared by every SQL backend.

The statements are written in SQLite's dialect; a backend translates the few words
that differ (see :meth:`ouroboros.store.postgres.PostgresStore.sql`).
"""

from __future__ import annotations

#: the unique key of a metric row and of a provenance row (missing parts count as equal)
METRIC_KEY = (
    "run_id",
    "IFNULL(seed, -1)",
    "IFNULL(strategy, '')",
    "IFNULL(generation, -1)",
    "metric",
)
PROVENANCE_KEY = (
    "run_id",
    "IFNULL(seed, -1)",
    "IFNULL(strategy, '')",
    "IFNULL(generation, -1)",
    "source",
    "IFNULL(source_generation, -1)",
)
_METRIC_KEY = ", ".join(METRIC_KEY)
_PROVENANCE_KEY = ", ".join(PROVENANCE_KEY)

#: ``MIGRATIONS[k]`` takes a store from schema version ``k`` to ``k + 1``. Append only:
#: a released migration never changes, so every older store upgrades the same way.
MIGRATIONS: list[tuple[str, ...]] = [
    # 1: runs, their metrics and artifact paths.
    (
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY, created TEXT NOT NULL, kind TEXT NOT NULL,
            name TEXT NOT NULL, status TEXT NOT NULL, config TEXT NOT NULL)""",
        """CREATE TABLE metrics (
            run_id TEXT NOT NULL REFERENCES runs(id), seed INTEGER, strategy TEXT,
            generation INTEGER, metric TEXT NOT NULL, value REAL)""",
        """CREATE TABLE artifacts (
            run_id TEXT NOT NULL REFERENCES runs(id), name TEXT NOT NULL, path TEXT NOT NULL,
            PRIMARY KEY (run_id, name))""",
    ),
    # 2: how a run ended and where it ran, sweeps grouping their runs, training-data
    # provenance, and one metric row per key, so that a retried writer replaces its
    # rows instead of duplicating them (duplicates already stored keep the latest).
    (
        "ALTER TABLE runs ADD COLUMN finished TEXT",
        "ALTER TABLE runs ADD COLUMN error TEXT",
        "ALTER TABLE runs ADD COLUMN env TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE runs ADD COLUMN parent TEXT REFERENCES runs(id)",
        """CREATE TABLE provenance (
            run_id TEXT NOT NULL REFERENCES runs(id), seed INTEGER, strategy TEXT,
            generation INTEGER, source TEXT NOT NULL, source_generation INTEGER,
            rows INTEGER NOT NULL)""",
        f"DELETE FROM metrics WHERE rowid NOT IN "
        f"(SELECT MAX(rowid) FROM metrics GROUP BY {_METRIC_KEY})",
        f"CREATE UNIQUE INDEX metrics_key ON metrics ({_METRIC_KEY})",
        f"CREATE UNIQUE INDEX provenance_key ON provenance ({_PROVENANCE_KEY})",
        "CREATE INDEX runs_created ON runs (created)",
        "CREATE INDEX runs_parent ON runs (parent)",
    ),
    # 3: the lineage catalog (a record per table, and the hashes of its rows, so that a
    # copy of a table, or rows of it mixed into another, are recognised by content alone)
    # and the privacy ledger (every differentially private release of a source dataset).
    # A table's id is derived from its content hash, so no backend needs a sequence; its
    # digest of the hashes makes storing them again for the same content a no-op.
    (
        """CREATE TABLE lineage (
            content_hash TEXT PRIMARY KEY, updated TEXT NOT NULL, record TEXT NOT NULL)""",
        """CREATE TABLE hashed_tables (
            id INTEGER PRIMARY KEY, content_hash TEXT NOT NULL UNIQUE, rows INTEGER NOT NULL,
            digest TEXT NOT NULL, updated TEXT NOT NULL)""",
        """CREATE TABLE row_hashes (
            hash INTEGER NOT NULL, table_id INTEGER NOT NULL,
            PRIMARY KEY (hash, table_id)) WITHOUT ROWID""",
        """CREATE TABLE releases (
            id TEXT PRIMARY KEY, dataset_hash TEXT NOT NULL, created TEXT NOT NULL,
            mechanism TEXT NOT NULL, epsilon REAL NOT NULL, delta REAL NOT NULL,
            release TEXT NOT NULL)""",
        "CREATE INDEX releases_dataset ON releases (dataset_hash, created)",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)
