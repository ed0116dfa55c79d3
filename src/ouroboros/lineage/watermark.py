"""A keyed statistical watermark for synthetic tables, embedded by choosing rows.

Editing values, as He et al. (2024, "Watermarking Generative Tabular Data") do by
nudging continuous values into keyed "green" intervals, cannot mark an integer or a
category without changing it. We instead follow the multi-sample selection of Fang
et al. (2025, "MUSE: Model-Agnostic Tabular Watermarking via Multi-Sample Selection"):
the generator draws ``OVERSAMPLE`` times the rows asked for and the rows whose keyed
hashes are greenest are kept. No value is touched, so every row is one the model
drew, and conditions, rules, ranges and dtypes hold exactly. Unlike TabWak (Zhu et
al. 2025, "TabWak: A Watermark for Tabular Diffusion Models"), which shapes a diffusion
model's starting noise, this needs no invertible model and works for every generator.

Units of evidence. A row is read as many small *units*: each column alone and each pair
of columns, its canonical values (numbers at ten significant digits, so that a CSV round
trip or rounding to the schema's precision leaves them alone; numeric-looking text as
numbers; ISO dates as seconds) hashed with the key and the column names. A unit is
green with probability :data:`GAMMA` under a random key, whatever the data. Dropping
columns removes units but leaves the others readable; shuffling rows changes nothing.

Only *rare, fine-grained* units count. A unit is rare when its value combination occurs
once among the rows read. Rare is not enough: a value that occurs about once per block
of candidates (a category of probability 1/2000, a pair of two mid-sized categories)
has one fixed colour for every candidate that carries it, so selecting on it kept green
levels twice as often as red ones and moved the table's marginals and pair trends
(Adult lost 0.012 of SDMetrics quality). A column subset therefore counts only where
it is fine-grained among :data:`RARE_BLOCK` rows: values seen twice are few against
values seen once, ``2 f2 <= FINE_RATIO f1`` (Good 1953: a value seen once then has
probability about ``FINE_RATIO / RARE_BLOCK``, so each colour is shared by almost no
other candidate and selection is a random thinning that leaves every aggregate in
place). On Adult these are fnlwgt and its pairs; on California 34 of its 55 column
pairs (no column alone: its counts and coordinates repeat within 2,048 rows). A table
without such a column (few-valued categories or integers only) cannot carry the
mark, and ``detect`` says so.

For each row, with ``n`` such units of which ``g`` are green, the randomised binomial
p-value ``u = P(X > g) + V P(X = g)`` with ``X ~ Binomial(n, GAMMA)`` and ``V`` uniform is
exactly uniform on real data (which subsets count depends on counts, never colours),
independently across distinct rows (their rare units are disjoint); the sample keeps the
rows of smallest ``u`` (1 in :data:`OVERSAMPLE`; 1 in :data:`OVERSAMPLE_CONDITIONAL` for
rows that must meet conditions). The sampler judges rarity within blocks of
:data:`RARE_BLOCK` candidate rows, about the size of table a detector reads, so that
both see mostly the same units as rare.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Callable
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ouroboros.errors import ParameterError
from ouroboros.values import datetime_seconds

#: environment variable holding the watermark key (any text)
KEY_ENV = "OURO_WATERMARK_KEY"
#: environment variable naming the folder of the key file (default ~/.config/ouroboros)
HOME_ENV = "OURO_HOME"
KEY_FILE = "watermark.key"
#: share of units that are green under a random key
GAMMA = 0.5
#: rows kept per round of selection (bounds the candidate rows held at once)
MARK_CHUNK = 8192
#: candidate rows drawn per row kept
OVERSAMPLE = 32
#: candidate rows per row kept when the rows must meet conditions
OVERSAMPLE_CONDITIONAL = 8
#: the fewest candidate rows judged together, so that "rare" means rare in the model
MIN_POOL = 1024
#: candidate rows among which a unit must be unique to count as rare when embedding:
#: about the size of table a detector reads, so that both see the same units as rare;
#: also the rows on which both judge which column subsets are fine-grained
RARE_BLOCK = 2048
#: a column subset carries the mark only where values seen twice are few against values
#: seen once: ``2 f2 <= FINE_RATIO f1`` (Good 1953: a value seen once among ``m`` rows
#: has probability about ``2 f2 / (f1 m)``, here at most ``FINE_RATIO / m``)
FINE_RATIO = 0.1
#: units hashed in one vectorised step (bounds the memory of a large table)
_UNITS_AT_ONCE = 4_000_000
#: most column subsets hashed (singles first, then pairs in keyed order)
MAX_SUBSETS = 256

_NA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GREEN_BELOW = np.uint64(int(GAMMA * 2**64) - 1)
_DATE = r"^\s*\d{4}-\d{2}-\d{2}"


# ---------------------------------------------------------------- the key
def key_folder() -> Path:
    """``$OURO_HOME`` if set, else ``~/.config/ouroboros``."""
    home = os.environ.get(HOME_ENV)
    return Path(home).expanduser() if home else Path.home() / ".config" / "ouroboros"


def load_key(create: bool = True) -> bytes | None:
    """The watermark key: ``$OURO_WATERMARK_KEY``, else the key file, created on first use
    with owner-only permissions (``create=False`` returns ``None`` instead)."""
    text = os.environ.get(KEY_ENV)
    if text:
        return hashlib.sha256(text.encode("utf-8")).digest()
    path = key_folder() / KEY_FILE
    if not path.exists():
        if not create:
            return None
        _create_key_file(path)
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except ValueError as exc:
        raise ParameterError(
            f"watermark key file {str(path)!r} is damaged (expected 64 hex digits); "
            f"remove it to make a new key, or set {KEY_ENV}"
        ) from exc


def _create_key_file(path: Path) -> None:
    """Write a fresh key atomically (temp file, then a hard link that fails if another
    process won the race, so every process ends with the same key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def key_id(key: bytes) -> str:
    """A public name of ``key`` (a hash; the key cannot be recovered from it)."""
    return hashlib.sha256(b"ouroboros watermark key id\0" + key).hexdigest()[:16]


# ---------------------------------------------------------------- canonical cells
def _mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, a bijective mixer of ``uint64`` arrays."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _number_codes(x: np.ndarray) -> np.ndarray:
    """Numbers at ten significant digits as ``uint64`` codes (missing: one code)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(len(x), _NA, dtype=np.uint64)
    finite = np.isfinite(x)
    v = x[finite]
    exponent = np.zeros(len(v), dtype=np.int64)
    nonzero = v != 0
    exponent[nonzero] = np.floor(np.log10(np.abs(v[nonzero]))).astype(np.int64)
    mantissa = np.rint(v / np.power(10.0, exponent - 9))
    # log10 may be off by one next to a power of ten: renormalise to 10 digits
    high = np.abs(mantissa) >= 1e10
    exponent[high] += 1
    low = nonzero & (np.abs(mantissa) < 1e9)
    exponent[low] -= 1
    mantissa = np.rint(v / np.power(10.0, exponent - 9))
    packed = (mantissa.astype(np.int64) + 2**35).astype(np.uint64)
    packed |= (exponent + 1024).astype(np.uint64) << np.uint64(40)
    out[finite] = _mix(packed)
    out[np.isposinf(x)] = _mix(np.array([1], np.uint64))[0]
    out[np.isneginf(x)] = _mix(np.array([2], np.uint64))[0]
    return out


def _text_code(value: str) -> np.uint64:
    digest = hashlib.blake2b(value.strip().encode("utf-8"), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def _object_codes(values: pd.Series) -> np.ndarray:
    """Text cells: numbers where they parse as numbers, ISO dates as seconds, else text."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    uniques = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
    text = uniques.astype(str).str.strip()
    table = np.empty(len(uniques), dtype=np.uint64)
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    numeric = ~np.isnan(numbers)
    table[numeric] = _number_codes(numbers[numeric])
    dates = ~numeric & text.str.match(_DATE).to_numpy(dtype=bool)
    if dates.any():
        parsed = pd.to_datetime(text[dates], errors="coerce", format="ISO8601", utc=True)
        seconds = datetime_seconds(parsed)
        table[dates] = _number_codes(seconds)
        dates[dates] = ~np.isnan(seconds)
    rest = ~numeric & ~dates
    table[rest] = [_text_code(t) for t in text[rest]]
    out = np.full(len(values), _NA, dtype=np.uint64)
    present = codes >= 0
    out[present] = table[codes[present]]
    return out


def column_codes(values: pd.Series) -> np.ndarray:
    """One column's cells as canonical ``uint64`` codes that survive a CSV round trip."""
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        return _number_codes(datetime_seconds(values))
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        numbers = pd.to_numeric(values, errors="coerce")
        return _number_codes(numbers.to_numpy(dtype=np.float64, na_value=np.nan))
    return _object_codes(values)


def table_codes(frame: pd.DataFrame) -> np.ndarray:
    """Every column's codes, one column of the ``(rows, columns)`` array each."""
    out = np.empty((len(frame), frame.shape[1]), dtype=np.uint64)
    for j, name in enumerate(frame.columns):
        out[:, j] = column_codes(frame[name])
    return out


# ---------------------------------------------------------------- units
def _name(column: object) -> str:
    return str(column).strip().lower()


def _seed(key: bytes, names: tuple[str, ...]) -> np.uint64:
    digest = hashlib.sha256(key + b"\0" + "\0".join(names).encode("utf-8")).digest()
    return np.uint64(int.from_bytes(digest[:8], "little"))


def column_subsets(columns: list, key: bytes) -> list[tuple[int, ...]]:
    """Column subsets hashed as units: every single column, then pairs in an order the
    key decides (at most :data:`MAX_SUBSETS` in all). A subset's rank depends only on its
    column names, so after columns are dropped the surviving subsets keep their ranks.
    (Triples were measured too: more units per row dilute the selection, and detection
    lost power even on tables of few-valued columns.)"""
    names = [_name(c) for c in columns]
    singles = [(j,) for j in range(len(names))]
    pairs = sorted(
        combinations(range(len(names)), 2),
        key=lambda p: int(_seed(key, ("rank", *sorted(names[j] for j in p)))),
    )
    return singles + pairs[: max(0, MAX_SUBSETS - len(singles))]


def keyed_columns(codes: np.ndarray, columns: list, key: bytes) -> np.ndarray:
    """Each column's codes mixed with the key and the column's name."""
    out = np.empty_like(codes)
    for j, column in enumerate(columns):
        out[:, j] = _mix(codes[:, j] ^ _seed(key, ("column", _name(column))))
    return out


def _rotl(x: np.ndarray, shift: int) -> np.ndarray:
    shift %= 64
    if shift == 0:
        return x
    return (x << np.uint64(shift)) | (x >> np.uint64(64 - shift))


def unit_hashes(keyed: np.ndarray, columns: list, subset: tuple[int, ...], key: bytes):
    """The keyed hash of each row's unit on ``subset`` from :func:`keyed_columns` (the
    order of the subset's columns does not matter)."""
    ordered = sorted(subset, key=lambda j: _name(columns[j]))
    h = np.full(len(keyed), _seed(key, tuple(_name(columns[j]) for j in ordered)))
    for turn, j in enumerate(ordered):
        h = h ^ _rotl(keyed[:, j], 7 * turn)
    return _mix(h)


def _subset_arrays(columns: list, key: bytes):
    """Per subset of :func:`column_subsets` short of the whole row (on distinct rows a
    unit of every column is always rare): its columns by name (-1 where it has fewer
    than three) and its seed, so that all units are hashed in one vectorised step."""
    subsets = [s for s in column_subsets(columns, key) if len(s) < len(columns)]
    picked = np.full((len(subsets), 3), -1)
    seeds = []
    for row, subset in enumerate(subsets):
        ordered = sorted(subset, key=lambda j: _name(columns[j]))
        picked[row, : len(ordered)] = ordered
        seeds.append(_seed(key, tuple(_name(columns[j]) for j in ordered)))
    return picked, np.array(seeds, dtype=np.uint64)


def _unit_block(keyed: np.ndarray, picked: np.ndarray, seeds: np.ndarray, rows) -> np.ndarray:
    """The ``(rows, subsets)`` unit hashes from :func:`keyed_columns` (as
    :func:`unit_hashes`, for many subsets at once; column -1 is left out)."""
    part = keyed[rows]
    h = np.broadcast_to(seeds, (len(part), len(seeds))).copy()
    for turn in range(picked.shape[1]):
        columns = picked[:, turn]
        cells = _rotl(part[:, np.maximum(columns, 0)], 7 * turn)
        cells[:, columns < 0] = 0
        h ^= cells
    return _mix(h)


def _fine(keyed: np.ndarray, picked: np.ndarray, seeds: np.ndarray, judge) -> np.ndarray:
    """Which subsets are fine-grained on the rows ``judge``: values seen twice are few
    against those seen once, ``2 f2 + 2 <= FINE_RATIO (f1 + 1)``."""
    h = _unit_block(keyed, picked, seeds, judge)
    codes, _ = pd.factorize(h.ravel())
    count = np.bincount(codes)[codes].reshape(h.shape)
    once, twice = (count == 1).sum(axis=0), (count == 2).sum(axis=0)
    return twice + 2 <= FINE_RATIO * (once + 1)


def _uniforms(keyed: np.ndarray, columns: list, key: bytes) -> np.ndarray:
    """A keyed uniform per row from all its cells (distinct rows get independent draws)."""
    order = sorted(range(len(columns)), key=lambda j: _name(columns[j]))
    h = np.full(len(keyed), _seed(key, ("tie-break", *(_name(columns[j]) for j in order))))
    for turn, j in enumerate(order):
        h = h ^ _rotl(keyed[:, j], 7 * turn)
    return (_mix(_mix(h)) >> np.uint64(11)).astype(np.float64) / 2.0**53


def row_evidence(
    codes: np.ndarray,
    columns: list,
    key: bytes,
    block: int | None = None,
    judge: np.ndarray | None = None,
):
    """Per row: how many of its fine units are rare (occur once among these rows, or
    within its ``block`` of rows), how many of those are green, and the tie-break
    uniform ``V`` that the sampler and the detector share. Fine subsets are judged on
    the rows ``judge`` (default: the first :data:`RARE_BLOCK`)."""
    n = len(codes)
    keyed = keyed_columns(codes, columns, key)
    picked, seeds = _subset_arrays(columns, key)
    judge = np.arange(min(n, RARE_BLOCK)) if judge is None else judge
    if len(seeds) and n:
        fine = _fine(keyed, picked, seeds, judge)
        picked, seeds = picked[fine], seeds[fine]
    rare = np.zeros(n, dtype=np.int64)
    green = np.zeros(n, dtype=np.int64)
    step = max(n if block is None else block, 1)
    per = max(1, _UNITS_AT_ONCE // step)  # subsets hashed together
    for start in range(0, n, step):
        rows = slice(start, start + step)
        for low in range(0, len(seeds), per):
            part = slice(low, low + per)
            h = _unit_block(keyed, picked[part], seeds[part], rows)
            # different subsets never share a hash (their seeds differ), so one pass finds
            # the units that occur once within each subset
            once = ~pd.Series(h.ravel()).duplicated(keep=False).to_numpy().reshape(h.shape)
            rare[rows] += once.sum(axis=1)
            green[rows] += (once & (h <= _GREEN_BELOW)).sum(axis=1)
    return rare, green, _uniforms(keyed, columns, key)


def markable(frame: pd.DataFrame, key: bytes) -> bool:
    """Whether rows like ``frame``'s (judged on its first :data:`RARE_BLOCK`) have a
    fine-grained column subset that can carry the mark; a table of few-valued columns
    only has none, and sampling it draws no extra rows."""
    if frame.empty:
        return False
    columns = list(frame.columns)
    picked, seeds = _subset_arrays(columns, key)
    if not len(seeds):
        return False
    keyed = keyed_columns(table_codes(frame), columns, key)
    return bool(_fine(keyed, picked, seeds, np.arange(min(len(frame), RARE_BLOCK))).any())


def row_pvalues(rare: np.ndarray, green: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """The randomised binomial p-value ``P(X > g) + V P(X = g)`` of each row (``NaN`` for a
    row without rare units); exactly uniform on real data."""
    out = np.full(len(rare), np.nan)
    has = rare > 0
    n, g = rare[has], green[has]
    out[has] = stats.binom.sf(g, n, GAMMA) + uniform[has] * stats.binom.pmf(g, n, GAMMA)
    return out


# ---------------------------------------------------------------- embedding
def select_rows(pool: pd.DataFrame, n: int, key: bytes, rng: np.random.Generator) -> np.ndarray:
    """Positions (in pool order) of the ``n`` rows of ``pool`` whose rare units are
    greenest; a row without rare units competes on a fresh uniform draw alone."""
    if n >= len(pool):
        return np.arange(len(pool))
    u = row_pvalues(*row_evidence(table_codes(pool), list(pool.columns), key, RARE_BLOCK))
    # rows without rare units may repeat: each copy competes on its own draw, so that a
    # common row is kept as often as any other
    u = np.where(np.isnan(u), rng.random(len(pool)), u)
    return np.sort(np.argsort(u, kind="stable")[:n])


def marked_rows(
    draw: Callable[[int], pd.DataFrame],
    n: int,
    key: bytes,
    rng: np.random.Generator,
    conditional: bool = False,
) -> tuple[pd.DataFrame, bool]:
    """``n`` rows kept from more that ``draw(m)`` gives, and whether they carry the mark.

    A first block of :data:`RARE_BLOCK` rows decides: when no column subset is
    fine-grained (:func:`markable`), no extra rows are drawn and the rows are unmarked.
    Otherwise rows are kept in chunks of :data:`MARK_CHUNK`, each the greenest of
    :func:`pool_size` candidates."""
    probe = draw(min(RARE_BLOCK, pool_size(min(MARK_CHUNK, n), conditional)))
    if not markable(probe, key):
        if len(probe) >= n:
            return probe.iloc[:n].reset_index(drop=True), False
        return pd.concat([probe, draw(n - len(probe))], ignore_index=True), False
    parts, kept = [], 0
    while kept < n:
        size = min(MARK_CHUNK, n - kept)
        pool = pd.concat(
            [probe, draw(pool_size(size, conditional) - len(probe))], ignore_index=True
        )
        probe = probe.iloc[:0]
        parts.append(pool.iloc[select_rows(pool, size, key, rng)])
        kept += size
    return pd.concat(parts, ignore_index=True), True


def pool_size(n: int, conditional: bool = False) -> int:
    """Candidate rows drawn for ``n`` kept rows; rows that must meet conditions are often
    drawn many times over already, so they get :data:`OVERSAMPLE_CONDITIONAL` candidates
    each (a weaker mark per row, which the detector's second level reads)."""
    if conditional:
        return n * OVERSAMPLE_CONDITIONAL
    return max(n * OVERSAMPLE, MIN_POOL)
