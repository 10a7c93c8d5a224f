"""nDCG@10 of the vector half, the BM25 half and their fusion, per query kind, for several fusions.

    uv run python scripts/compare_fusion.py scale=10k search.tokenizer=kiwi

Measures without logging to MLflow (the runs are comparisons, not results to keep); extra
arguments are config overrides. Prints one line per fusion setting: vector / BM25 / hybrid.
"""

import logging
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from vssbench.config.plan import read_plan
from vssbench.run.measurement import measure
from vssbench.stopwatch import Stopwatch

CONF = Path(__file__).resolve().parents[1] / "conf"
SETTINGS = (
    ("rrf", 50),
    ("rrf", 10),
    ("convex", 50),
    ("convex", 10),
)
KINDS = ("paraphrase", "entity", "keyword")
HALVES = ("vector_", "bm25_", "hybrid_")


def main(overrides: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING)
    print(f"{'fusion':<8}{'cand':>5}  " + "".join(f"{kind:>22}" for kind in (*KINDS, "all")))
    for fusion, candidates in SETTINGS:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(
                "config",
                overrides=[
                    "search=hybrid",
                    *overrides,
                    f"search.fusion={fusion}",
                    f"search.candidates={candidates}",
                ],
            )
        m = measure(read_plan(cfg), Stopwatch()).metrics
        cells = [" / ".join(f"{m[f'{h}ndcg_at_10.{kind}']:.2f}" for h in HALVES) for kind in KINDS]
        cells.append(" / ".join(f"{m[f'{h}ndcg_at_10']:.3f}" for h in HALVES))
        print(f"{fusion:<8}{candidates:>5}  " + "".join(f"{c:>22}" for c in cells))


if __name__ == "__main__":
    main(sys.argv[1:])
