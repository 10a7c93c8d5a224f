"""`uv run python -m vssbench.reference`: write the generated pages under docs/; `--check` exits
1 naming each page that differs from what the code generates now."""

import argparse
import sys
from pathlib import Path

from vssbench.reference.pages import pages

DOCS = Path(__file__).resolve().parents[2] / "docs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vssbench.reference", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the docs dir (default: docs/)")
    args = parser.parse_args(argv)
    stale = []
    for name, text in pages().items():
        path = args.docs / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    for name in stale:
        print(f"{name} is out of date: run `uv run python -m vssbench.reference`", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
