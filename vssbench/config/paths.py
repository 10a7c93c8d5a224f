"""Paths in a configuration, anchored to the directory the command ran in."""

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

# Settings that name files or dirs; a job reads them relative to where the command ran.
PATH_KEYS = ("cache_dir", "tracking.dir", "dataset.docs", "dataset.queries", "dataset.path")


def writable_places(cfg: DictConfig) -> dict[str, Path]:
    """Where a run writes (cache_dir, tracking.dir), for a message about space; a setting whose
    interpolation cannot resolve is left out (it is the error being reported)."""
    places = {}
    for key in ("cache_dir", "tracking.dir"):
        try:
            places[key] = Path(str(OmegaConf.select(cfg, key)))
        except Exception:
            continue
    return places


def anchored(cfg: DictConfig, cwd: Path) -> DictConfig:
    """The config with its relative paths made absolute against `cwd`, the dir the command ran
    in: a launcher may run the job elsewhere (Ray under `uv run` runs its workers in a copy of
    the working dir)."""
    out = cfg.copy()
    for key in PATH_KEYS:
        value = OmegaConf.select(out, key)
        if value and not Path(value).is_absolute():
            OmegaConf.update(out, key, str(cwd / value))
    return out
