"""The chosen engine's own options, read from engine.* (the union of every engine's options)."""

from dataclasses import fields

from omegaconf import DictConfig

from vssbench.engines.registry import ENGINES


def engine_options(engine: DictConfig) -> object:
    """An instance of the chosen engine's options dataclass (engines/registry.py), its fields
    read from `engine` (cfg.engine); the other engines' options are left out."""
    options = ENGINES[engine.name.value].options
    return options(**{option.name: engine[option.name] for option in fields(options)})
