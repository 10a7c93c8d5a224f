"""Before any work: every directory a run writes to can be created and written, else one line
naming the setting."""

import tempfile
from pathlib import Path

from vssbench.config.checks import ConfigError
from vssbench.track import store


def check_writable(setting: str, path: Path) -> None:
    """Create `path` if needed and write a temp file in it; ConfigError naming the setting
    (`key=value`) that chose it if not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise ConfigError(f"{setting}: cannot write to {path}/ ({error.strerror})") from None


def check_dirs(
    cache_dir: str, location: store.StoreLocation, output_key: str, output_dir: str
) -> None:
    """The cache, a local MLflow store and Hydra's output dir (hydra.run.dir or hydra.sweep.dir)."""
    check_writable(f"cache_dir={cache_dir}", Path(cache_dir))
    if (db := store.sqlite_path(location)) is not None:
        key = store.store_key(location)
        value = location.dir if key == "tracking.dir" else store.tracking_uri(location)
        check_writable(f"{key}={value}", db.parent)
    check_writable(f"{output_key}={output_dir}", Path(output_dir))
