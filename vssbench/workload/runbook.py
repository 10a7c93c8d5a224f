"""A churn run's runbook, seeded: the documents the index starts with, then per round the ids
inserted, deleted and updated, and the updated vectors. Plain arrays, no engine."""

from dataclasses import dataclass

import numpy as np

from vssbench.run.plan import ChurnSettings

# An update is an edited document: its vector moves by Gaussian noise of this share of its length
# (the synthetic corpus's default noise, dataset.noise), so it stays near its old neighbours.
UPDATE_NOISE = 0.5


@dataclass(frozen=True)
class Round:
    number: int  # 1, 2, ...
    insert: np.ndarray  # ids of documents not yet in the table
    delete: np.ndarray  # ids of live rows removed
    update: np.ndarray  # ids of live rows (not deleted this round) given a new vector
    update_vectors: np.ndarray  # their new vectors, in the order of `update`


@dataclass(frozen=True)
class Runbook:
    initial: np.ndarray  # ids the index is built over, ascending
    rounds: tuple[Round, ...]

    def live_after(self, count: int) -> np.ndarray:
        """The live ids after `count` rounds, ascending."""
        live = set(self.initial.tolist())
        for r in self.rounds[:count]:
            live |= set(r.insert.tolist())
            live -= set(r.delete.tolist())
        return np.array(sorted(live), np.int64)


def make_runbook(vectors: np.ndarray, settings: ChurnSettings, seed: int) -> Runbook:
    """Every round applies its deletes, then its updates, then its inserts, each as a share of
    the rows live when the round starts (inserts: of all documents)."""
    n = len(vectors)
    rng = np.random.default_rng([seed, 23])
    order = rng.permutation(n)
    start = round(settings.initial * n)
    initial, pending = np.sort(order[:start]), list(order[start:])
    live = set(initial.tolist())
    rounds = []
    for number in range(1, settings.rounds + 1):
        alive = np.array(sorted(live), np.int64)
        delete = np.sort(rng.choice(alive, round(settings.delete * len(alive)), replace=False))
        kept = np.setdiff1d(alive, delete)
        update = np.sort(rng.choice(kept, round(settings.update * len(alive)), replace=False))
        take = round(settings.insert * n)
        insert, pending = np.sort(np.array(pending[:take], np.int64)), pending[take:]
        moved = vectors[update].astype(np.float32)
        norms = np.linalg.norm(moved, axis=1, keepdims=True)
        noise = rng.standard_normal(moved.shape).astype(np.float32) / np.sqrt(vectors.shape[1])
        moved = moved + UPDATE_NOISE * norms * noise
        rounds.append(Round(number, insert, delete, update, moved))
        live = (live - set(delete.tolist())) | set(insert.tolist())
    return Runbook(initial, tuple(rounds))


def current_vectors(vectors: np.ndarray, runbook: Runbook, count: int) -> np.ndarray:
    """Every document's vector after `count` rounds (updated ones moved); a copy."""
    out = np.array(vectors, np.float32)
    for r in runbook.rounds[:count]:
        out[r.update] = r.update_vectors
    return out


class RoundVectors:
    """Every document's vector after some rounds, without a copy of them all (one per measured
    state cost a copy of the vectors each: 1 GB a state at 250k x 1024): the documents' own
    vectors, read-only (memory-mapped from the cache), and per document the round whose update
    holds its vector now. `current[ids]` gathers those rows, updated ones moved, as
    current_vectors(...)[ids] would; `at(count)` moves it to a later round, as states are
    measured in order. Scoring reads rows this way only (workload/scoring.py: len and rows)."""

    def __init__(self, vectors: np.ndarray, runbook: Runbook) -> None:
        self.base = vectors
        self.runbook = runbook
        self.count = 0
        # Per document: the round (1, 2, ...) whose update_vectors holds its vector, 0 for its
        # own; and its row there.
        self._round = np.zeros(len(vectors), np.int32)
        self._row = np.zeros(len(vectors), np.int64)

    def __len__(self) -> int:
        return len(self.base)

    def at(self, count: int) -> "RoundVectors":
        """The vectors after `count` rounds: this object, moved forward (never back)."""
        if count < self.count:
            raise ValueError(f"round {count} is before round {self.count}: rounds go forward")
        for r in self.runbook.rounds[self.count : count]:
            self._round[r.update] = r.number
            self._row[r.update] = np.arange(len(r.update))
        self.count = count
        return self

    def __getitem__(self, ids: np.ndarray | int) -> np.ndarray:
        """The rows of `ids` (an array, or one id: one vector), float32, a new array."""
        ids = np.asarray(ids)
        if ids.ndim == 0:
            return self[ids[None]][0]
        out = np.asarray(self.base[ids], np.float32)  # indexing by ids copies those rows only
        rounds = self._round[ids]
        for number in np.unique(rounds[rounds > 0]):
            moved = rounds == number
            out[moved] = self.runbook.rounds[number - 1].update_vectors[self._row[ids[moved]]]
        return out
