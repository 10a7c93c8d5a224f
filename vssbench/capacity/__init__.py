"""Capacity planner (`python -m vssbench.capacity`, see __main__): power laws in the number of
documents fitted on a store's finished runs, and their predictions with intervals.

load (the runs from MLflow) -> observations (the runs of one engine, M and ef_construction, and
per quantity its values) -> plan (which sizes a fit takes, predictions, sizes left out) with fit
(least squares on logs, prediction intervals) -> output (the text)."""
