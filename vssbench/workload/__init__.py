"""What happens to an index over a run beyond the static build: churn (workload/churn.py) and
restarts (workload/restart.py)."""
