"""Compare two sets of stored runs: `python -m vssbench.compare BASELINE CANDIDATE`."""
