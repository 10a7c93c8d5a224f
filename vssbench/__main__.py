"""Entry point: `python -m vssbench [overrides]` runs one configuration, `-m` sweeps many."""

import logging

import hydra
from omegaconf import DictConfig

from vssbench import bench
from vssbench.schema import ConfigError

log = logging.getLogger("vssbench")


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Returns recall@k, the objective sweepers optimise."""
    try:
        result = bench.run(cfg)
    except ConfigError as error:
        raise SystemExit(f"vssbench: bad configuration: {error}") from None
    return result[f"recall_at_{cfg.k}"]


if __name__ == "__main__":
    main()
