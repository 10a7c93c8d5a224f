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
