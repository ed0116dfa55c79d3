"""The collapse lab's unit of data: rows, whole entities, or stretches of one series.

A plain table is drawn, counted and joined by rows. A sequence table with an entity key
(``schema.sequence.key``) is handled in **whole entities**: a training set of ``size``
holds ``size`` entities, each with all its events in their order, as a sequence
generator's ``sample(n)`` draws ``n`` entities; no strategy ever cuts a sequence. One
long series (a sequence spec without a key) is handled in **steps**, drawn as contiguous
windows (a window of ``k`` steps at a random start) and joined end to end in time.

>>> from ouroboros.collapse.units import Units
>>> Units.of(None).kind
'rows'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ouroboros.sequence_schema import SequenceSpec, entity_order, index_numbers

ROWS, ENTITIES, STEPS = "rows", "entities", "steps"
_DAY, _WEEK = 86_400.0, 7 * 86_400.0


@dataclass(frozen=True)
class Units:
    """How the lab counts, draws and joins a table: by rows (``key`` and ``series``
    unset), by entities of ``key``, or by steps of one ``series`` ordered by ``index``
    (text times read and written in ``datetime_format``)."""

    key: str | None = None
    index: str | None = None
    series: bool = False
    datetime_format: str | None = None

    @classmethod
    def of(cls, schema: Any) -> Units:
        """The units of a table under ``schema`` (a :class:`~ouroboros.schema.Schema` or None)."""
        spec = getattr(schema, "sequence", None)
        if spec is None:
            return cls()
        fmt = None
        if spec.index is not None and spec.index in schema.names:
            fmt = schema[spec.index].datetime_format
        return cls(spec.key, spec.index, spec.key is None, fmt)

    @property
    def kind(self) -> str:
        """``"rows"``, ``"entities"`` or ``"steps"`` (also the plural noun in messages)."""
        return ENTITIES if self.key is not None else STEPS if self.series else ROWS

    # ------------------------------------------------------------ reading
    def ids(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's unit number: its entity in order of first appearance, else its position."""
        if self.key is None:
            return np.arange(len(frame))
        return pd.factorize(frame[self.key], use_na_sentinel=False)[0].astype(np.int64)

    def count(self, frame: pd.DataFrame) -> int:
        """Units in ``frame``."""
        return len(frame) if self.key is None else int(frame[self.key].nunique(dropna=False))

    def sizes(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows of each unit, by unit number."""
        return np.bincount(self.ids(frame), minlength=self.count(frame))

    def means(self, frame: pd.DataFrame, values: np.ndarray) -> np.ndarray:
        """Per unit, the mean of its rows' ``values`` (the values themselves for rows and steps)."""
        values = np.asarray(values, dtype=np.float64)
        if self.key is None:
            return values
        ids = self.ids(frame)
        return np.bincount(ids, weights=values) / np.bincount(ids)

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` without its entity key: what a verifier may score (generated keys differ
        from real ones by construction, so a classifier would read them)."""
        return frame if self.key is None else frame.drop(columns=[self.key])

    # ------------------------------------------------------------ selecting
    def positions(self, frame: pd.DataFrame, numbers: np.ndarray) -> np.ndarray:
        """Row positions of the units ``numbers``, unit after unit in that order, each
        unit's rows in table order."""
        numbers = np.asarray(numbers, dtype=np.int64)
        if self.key is None:
            return numbers
        ids = self.ids(frame)
        order = np.argsort(ids, kind="stable")
        sizes = np.bincount(ids, minlength=self.count(frame))
        starts = np.cumsum(sizes) - sizes
        lengths = sizes[numbers]
        before = np.cumsum(lengths) - lengths
        return order[np.repeat(starts[numbers] - before, lengths) + np.arange(lengths.sum())]

    def take(self, frame: pd.DataFrame, numbers: np.ndarray) -> pd.DataFrame:
        """The units ``numbers`` of ``frame`` in that order; an entity taken again gets a
        fresh key, so that every copy stays an entity of its own."""
        numbers = np.asarray(numbers, dtype=np.int64)
        out = frame.iloc[self.positions(frame, numbers)]
        if self.key is None:
            return out
        out = out.reset_index(drop=True)
        copy = pd.Series(numbers).groupby(numbers).cumcount().to_numpy()
        if len(copy) and copy.max() > 0:
            slot = np.repeat(np.arange(len(numbers)), self.sizes(frame)[numbers])
            labels = np.empty(len(numbers), dtype=object)
            labels[copy > 0] = _fresh_keys(frame[self.key], int((copy > 0).sum()))
            again = copy[slot] > 0
            out[self.key] = _assign(out[self.key], again, pd.Series(labels[slot[again]]))
        return out

    def draw(self, frame: pd.DataFrame, k: int, rng: np.random.Generator) -> pd.DataFrame:
        """``k`` units drawn uniformly without replacement, kept in their order in ``frame``;
        for one series a contiguous window of ``k`` steps at a uniform start."""
        if self.series:
            start = int(rng.integers(0, len(frame) - k + 1))
            return frame.iloc[start : start + k]
        if self.key is None:
            return frame.iloc[np.sort(rng.choice(len(frame), size=k, replace=False))]
        return self.take(frame, np.sort(rng.choice(self.count(frame), size=k, replace=False)))

    def part(self, frame: pd.DataFrame, start: int, stop: int | None = None) -> pd.DataFrame:
        """Units ``start`` to ``stop`` (exclusive) in order of first appearance."""
        if self.key is None:
            return frame.iloc[start:stop]
        count = self.count(frame)
        stop = count if stop is None else min(stop, count)
        return self.take(frame, np.arange(min(start, stop), stop))

    def head(self, frame: pd.DataFrame, k: int) -> pd.DataFrame:
        """The first ``k`` units."""
        return self.part(frame, 0, k)

    def arrange(self, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """``frame`` in the lab's order: rows or entities in random order (each entity's
        rows together, in table order), one series in time order."""
        if self.series:
            spec = SequenceSpec(None, self.index)
            order = entity_order(frame, spec, self.datetime_format)[0]
            return frame.iloc[order].reset_index(drop=True)
        if self.key is None:
            return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
        return self.take(frame, rng.permutation(self.count(frame)))

    def keep(self, frame: pd.DataFrame, scores: np.ndarray, k: int) -> pd.DataFrame:
        """The ``k`` units a verifier rates best, in their order: by score (entities by the
        mean of their rows' scores) or, for a boolean mask, the first ``k`` that pass
        (entities whose every row passes); for one series the window of ``k`` steps with
        the best mean score."""
        scores = np.asarray(scores)
        if self.series:
            k = min(k, len(frame))
            window = np.convolve(np.asarray(scores, dtype=np.float64), np.ones(k), "valid")
            if scores.dtype == bool and window.max() == 0:
                return frame.iloc[:0]
            start = int(np.argmax(window))
            return frame.iloc[start : start + k].reset_index(drop=True)
        if self.key is not None:
            mean = self.means(frame, scores)
            scores = mean == 1.0 if scores.dtype == bool else mean
        if scores.dtype == bool:
            chosen = np.flatnonzero(scores)[:k]
        else:
            chosen = np.sort(np.argsort(-scores, kind="stable")[:k])
        return self.take(frame, chosen).reset_index(drop=True)

    def gather(
        self, frames: list[pd.DataFrame], chosen: np.ndarray, rng: np.random.Generator
    ) -> tuple[pd.DataFrame, list[int]]:
        """The units ``chosen`` (sorted positions among all units of ``frames``, frame after
        frame) joined, and the rows taken from each frame. One series takes from each frame a
        contiguous window of as many steps as were chosen there."""
        counts = [self.count(f) for f in frames]
        owners = np.repeat(np.arange(len(frames)), counts)
        if self.kind == ROWS:
            data = concat(frames).iloc[chosen].reset_index(drop=True)
            return data, np.bincount(owners[chosen], minlength=len(frames)).tolist()
        bounds = np.cumsum([0] + counts)
        parts = []
        for number, frame in enumerate(frames):
            local = chosen[owners[chosen] == number] - bounds[number]
            parts.append(
                self.draw(frame, len(local), rng) if self.series else self.take(frame, local)
            )
        return self.concat(parts), [len(p) for p in parts]

    # ------------------------------------------------------------ joining
    def concat(self, frames: list[pd.DataFrame]) -> pd.DataFrame:
        """The frames one after another (the empty ones left out). Entities of a later frame
        whose key an earlier frame already uses get fresh keys; the stretches of one series
        are joined end to end in time (:meth:`end_to_end`)."""
        frames = [f for f in frames if len(f)]
        if self.series:
            frames = self.end_to_end(frames)
        elif self.key is not None and len(frames) > 1:
            frames = _apart(frames, self.key)
        return concat(frames)

    def end_to_end(self, frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
        """Stretches of one series, each later one moved in time to start after the previous
        ends: a numeric index one typical step (the median positive step) after the end, a
        datetime index at the first time one typical step after the end that keeps the
        stretch's time of day (for steps under a day) or its time of week, so that the daily
        and weekly seasons a generator learns stay in phase."""
        if self.index is None or len(frames) < 2:
            return frames
        times = [index_numbers(f[self.index], self.datetime_format) for f in frames]
        steps = np.concatenate([np.diff(t) for t in times])
        steps = steps[steps > 0]
        step = float(np.median(steps)) if len(steps) else 1.0
        dated = not _numeric(frames[0][self.index])
        period = (_DAY if step < _DAY else _WEEK) if dated else 0.0
        out, end = [frames[0]], float(times[0].max())
        for frame, when in zip(frames[1:], times[1:], strict=True):
            shift = end + step - float(when.min())
            if period:
                shift = math.ceil(shift / period - 1e-9) * period
            moved = frame.copy()
            moved[self.index] = _shift(frame[self.index], shift, self.datetime_format)
            out.append(moved)
            end = float(when.max()) + shift
        return out

    def relabel(self, frame: pd.DataFrame, first: int, reserved: pd.Series) -> pd.DataFrame:
        """``frame`` with its entities numbered ``first``, ``first + 1``... in a key space no
        ``reserved`` key is in: integers after the largest reserved key, text keys a prefix
        no reserved key starts with. The lab gives each generation's sample its own range,
        so that no two samples (nor a sample and the real data) share an entity key."""
        if self.key is None or len(frame) == 0:
            return frame
        numbers = first + self.ids(frame)
        keys = frame[self.key]
        if pd.api.types.is_integer_dtype(keys.dtype):
            base = int(reserved.max()) + 1 if len(reserved) else 0
            labels: Any = base + numbers
        else:
            labels = np.char.add(_prefix(reserved), numbers.astype(str)).astype(object)
        out = frame.copy()
        out[self.key] = pd.Series(labels, index=frame.index).astype(keys.dtype)
        return out


def concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Plain frames one after another with a fresh row index (the empty ones left out)."""
    frames = [f for f in frames if len(f)]
    return (
        pd.concat(frames, ignore_index=True)
        if len(frames) > 1
        else frames[0].reset_index(drop=True)
    )


def _apart(frames: list[pd.DataFrame], key: str) -> list[pd.DataFrame]:
    """The frames with fresh keys for every entity whose key an earlier frame uses."""
    every = pd.concat([f[key] for f in frames], ignore_index=True)
    used = pd.Index(frames[0][key].unique())
    out, spare = [frames[0]], 0
    fresh = _fresh_keys(every, sum(f[key].nunique(dropna=False) for f in frames[1:]))
    for frame in frames[1:]:
        clash = pd.Index(frame[key].unique())
        clash = clash[clash.isin(used)]
        if len(clash):
            mapping = dict(zip(clash, fresh[spare : spare + len(clash)], strict=True))
            spare += len(clash)
            frame = frame.copy()
            mask = frame[key].isin(clash).to_numpy()
            frame[key] = _assign(frame[key], mask, frame[key][mask].map(mapping))
        used = used.append(pd.Index(frame[key].unique()))
        out.append(frame)
    return out


def _assign(keys: pd.Series, mask: np.ndarray, values: pd.Series) -> pd.Series:
    """``keys`` with the values at ``mask`` replaced by ``values`` (in order), dtype kept."""
    out = keys.astype(object).to_numpy(copy=True)
    out[mask] = values.to_numpy(dtype=object)
    return pd.Series(out, index=keys.index, name=keys.name).astype(keys.dtype)


def _fresh_keys(keys: pd.Series, n: int) -> np.ndarray:
    """``n`` keys none of ``keys`` is: integers after the largest, else text with a prefix
    no key starts with."""
    if pd.api.types.is_integer_dtype(keys.dtype):
        return (int(keys.max()) + 1 if len(keys) else 0) + np.arange(n)
    return np.char.add(_prefix(keys, "r"), np.arange(n).astype(str)).astype(object)


def _prefix(keys: pd.Series, prefix: str = "g") -> str:
    """``prefix``, then ``prefix_``, ``prefix__``...: the first no key starts with."""
    text = keys.astype(str)
    while text.str.startswith(prefix).any():
        prefix += "_"
    return prefix


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    )


def _shift(values: pd.Series, seconds: float, fmt: str | None) -> pd.Series:
    """An index column moved by ``seconds`` (steps, for a numeric index), dtype and text
    format kept."""
    if _numeric(values):
        by = round(seconds) if pd.api.types.is_integer_dtype(values.dtype) else seconds
        return values + by
    delta = pd.to_timedelta(round(seconds), unit="s")
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values + delta
    stamps = pd.to_datetime(values.astype(str), format=fmt or "mixed") + delta
    return stamps.dt.strftime(fmt or "%Y-%m-%d %H:%M:%S").astype(values.dtype)
