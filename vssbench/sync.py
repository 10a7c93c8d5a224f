"""Send the results runs saved when the tracking store could not take them.

    uv run python -m vssbench.sync DIR [DIR ...] [--tracking-uri URI]

DIR is a run's job dir, a sweep's dir or any dir above them: every journal under it that was
not sent goes to the MLflow run it belongs to (track/journal.py), in the store the run used
unless --tracking-uri names another.
"""

import argparse
import logging
from pathlib import Path

from vssbench import faults
from vssbench.track import journal, store


def unsent_under(dirs: list[Path]) -> list[Path]:
    """Journal dirs under `dirs` not sent yet, in path order."""
    found = {path.parent for d in dirs for path in d.rglob(journal.RESULTS_FILE)}
    return sorted(j for j in found if not journal.read(j)["sent"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vssbench.sync", description=__doc__)
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DIR")
    parser.add_argument("--tracking-uri", help="send to this store instead of the run's own")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    missing = [str(d) for d in args.dirs if not d.is_dir()]
    if missing:
        raise SystemExit(f"vssbench: no such directory: {', '.join(missing)}")
    store.bound_requests(store.StoreLocation("", "", args.tracking_uri))
    unsent = unsent_under(args.dirs)
    if not unsent:
        print(f"nothing to send: no unsent results under {', '.join(map(str, args.dirs))}")
        return
    for number, path in enumerate(unsent, 1):
        try:
            run_id = journal.send(path, args.tracking_uri)
        except Exception as error:
            places = {"journal": path}
            raise SystemExit(faults.one_line(error, places, path)) from None
        name = journal.read(path)["destination"]["run_name"]
        print(f"[{number}/{len(unsent)}] sent {name} to run {run_id} ({path})")


if __name__ == "__main__":
    main()
