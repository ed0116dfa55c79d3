"""A baseline for sequences: the stationary block bootstrap of real events.

Politis & Romano (1994), "The Stationary Bootstrap": each synthetic sequence is made of
runs of consecutive real events (gaps included), each run of geometric length with mean
``block_length``; a run starts at a random real event and ends at the end of its real
entity at the latest. Runs keep the real local dynamics (autocorrelation within a run,
volatility, transitions) exactly; what joins them is random. With a datetime index whose
steps are shorter than a day, a new run starts at an event of the same hour of the day as
the time it continues from, so daily seasons survive. Entities (static columns and
numbers of events) come from the tabular generator as in every sequence generator.

The baseline copies real events: it shows what a learnt model adds, and it is no privacy
protection (the copy and distance metrics show it).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ouroboros.synthesizers.base import Tags
from ouroboros.synthesizers.params import Boolean, Number, Param
from ouroboros.synthesizers.sequence_base import SequenceSynthesizer
from ouroboros.synthesizers.sequence_data import SECONDS_PER_DAY

_HOURS = 24


class SequenceBootstrapSynthesizer(SequenceSynthesizer):
    """Stationary block bootstrap of real events (Politis & Romano 1994).

    Parameters
    ----------
    block_length:
        Mean number of consecutive real events per run (geometric lengths).
    match_hour:
        With a datetime index of sub-daily steps, start each run at an event of the same
        hour of day as the time it continues from.
    static_synthesizer:
        As for :class:`~ouroboros.synthesizers.sequence_base.SequenceSynthesizer`.
    """

    name: ClassVar[str] = "sequence_bootstrap"
    tags: ClassVar[Tags] = Tags(sequential=True)
    parameters: ClassVar[dict[str, Param]] = {
        "block_length": Param(24.0, Number(1)),
        "match_hour": Param(True, Boolean()),
    }

    def _fit(self, matrix: np.ndarray, rng: np.random.Generator) -> None:
        sequences = self.sequences_
        self.events_ = matrix.astype(np.float32)
        self.lengths_ = sequences.lengths.astype(np.int64)
        self.hours_ = np.zeros(0, dtype=np.int64)
        times = sequences.times
        if self.match_hour and self.layout_.index_kind == "datetime" and times is not None:
            gaps = np.diff(times)
            step = float(np.median(gaps[gaps > 0])) if (gaps > 0).any() else 0.0
            if 0 < step < SECONDS_PER_DAY:
                self.hours_ = ((times % SECONDS_PER_DAY) // 3600).astype(np.int64)
                self.step_ = step

    def _sample_events(
        self, entities: pd.DataFrame, lengths: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        real_lengths = self.lengths_
        firsts = np.concatenate([[0], np.cumsum(real_lengths)[:-1]])
        ends = np.repeat(firsts + real_lengths, real_lengths)  # end of each event's entity
        later = np.flatnonzero(np.arange(len(ends)) != np.repeat(firsts, real_lengths))
        jump_to = later if len(later) else np.arange(len(ends))
        m, longest = len(lengths), int(lengths.max())
        out = np.empty((int(lengths.sum()), self.events_.shape[1]), dtype=np.float32)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        position = firsts[rng.integers(0, len(firsts), m)]
        clock = self._clock(entities, m)
        stop = 1.0 / float(self.block_length)
        for t in range(longest):
            alive = np.flatnonzero(lengths > t)
            if t > 0:
                nxt = position[alive] + 1
                jump = (rng.random(len(alive)) < stop) | (nxt >= ends[position[alive]])
                position[alive] = nxt
                chosen = alive[jump]
                position[chosen] = self._jump(chosen, clock, jump_to, rng)
            out[starts[alive] + t] = self.events_[position[alive]]
            if clock is not None:
                clock[alive] += self.step_
        return out

    def _clock(self, entities: pd.DataFrame, m: int) -> np.ndarray | None:
        """The next time of each synthetic sequence (for hour matching), or None."""
        if not len(self.hours_) or "__start__" not in entities:
            return None
        return entities["__start__"].to_numpy(dtype=np.float64).copy()

    def _jump(
        self,
        chosen: np.ndarray,
        clock: np.ndarray | None,
        jump_to: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        if clock is None:
            return jump_to[rng.integers(0, len(jump_to), len(chosen))]
        out = np.empty(len(chosen), dtype=np.int64)
        wanted = ((clock[chosen] % SECONDS_PER_DAY) // 3600).astype(np.int64)
        pool_hours = self.hours_[jump_to]
        for hour in np.unique(wanted):
            pool = jump_to[pool_hours == hour]
            if not len(pool):
                pool = jump_to
            these = wanted == hour
            out[these] = pool[rng.integers(0, len(pool), int(these.sum()))]
        return out

    def _event_state(self) -> dict[str, Any]:
        state = {"events": self.events_, "lengths": self.lengths_, "hours": self.hours_}
        return {**state, "step": float(getattr(self, "step_", 0.0))}

    def _set_event_state(self, state: dict[str, Any]) -> None:
        self.events_ = np.asarray(state["events"], dtype=np.float32)
        self.lengths_ = np.asarray(state["lengths"], dtype=np.int64)
        self.hours_ = np.asarray(state["hours"], dtype=np.int64)
        self.step_ = float(state["step"])
