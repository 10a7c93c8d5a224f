"""Whether the metrics a run logged are defined (vssbench/measure/definitions.py), and so on the
metrics reference page: the tests whose real runs log them check it."""

import fnmatch
from collections.abc import Iterable

from vssbench.measure import definitions


def undocumented(names: Iterable[str]) -> list[str]:
    headline = {m.name(10) for m in definitions.METRICS}
    patterns = [p for doc in definitions.FURTHER for p in doc.names]
    return sorted(
        n
        for n in names
        if n not in headline and not any(fnmatch.fnmatchcase(n, p) for p in patterns)
    )
