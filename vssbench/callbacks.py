"""Hydra callbacks: work done once in the launching process before jobs fan out."""

from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from vssbench import tracking


class PrepareTracking(Callback):
    """Create the MLflow store and experiment before parallel jobs could race to create them."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        tracking.prepare(config.tracking)
