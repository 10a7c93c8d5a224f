"""The report's part on an index's life (workload=churn and workload=restart runs): recall and
QPS over churn rounds per engine, before and after compaction; deleted rows in results and the
crash tests' outcomes; restart times cold and warm."""

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from vssbench.report.style import ENGINE_COLORS, no_data
from vssbench.workload.restart import MODES

LINES = ("-", "--", ":", "-.")
FIGURE = "churn_rounds"  # the report's figure name (churn_rounds.png)
ROUNDS = ("recall", "qps", "latency_p99_ms", "deleted_result_share", "file_mb")


@dataclass
class Lifecycle:
    churn: pd.DataFrame  # one row per churn run: its build, last round and compacted state
    rounds: pd.DataFrame  # one row per churn run and round (round -1: after compaction)
    crashes: pd.DataFrame  # one row per killed copy of every churn run with a crash test
    restarts: pd.DataFrame  # one row per restart run

    @property
    def empty(self) -> bool:
        return self.churn.empty and self.restarts.empty


NONE = Lifecycle(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame())


def load(runs: pd.DataFrame) -> Lifecycle:
    """The workload runs among the report's `runs` (one row each, as report/load.py reads them,
    newest first): the newest run of each configuration."""
    client = mlflow.MlflowClient()
    churn, rounds, crashes, restarts = [], [], [], []
    for run in runs.drop_duplicates("fingerprint").itertuples(index=False):
        logged = client.get_run(run.run_id).data.metrics
        label = {"run": run.configuration, "engine": run.engine, "scale": run.scale, "dim": run.dim}
        label["disturbed"] = bool(run.disturbed)
        if run.workload == "churn":
            k = int(run.k)
            per_round = _rounds(client, run.run_id, logged, k)
            if run.disturbed:  # timed while other processes took the CPU: no timings shown
                per_round = [{**r, "qps": np.nan, "latency_p99_ms": np.nan} for r in per_round]
            rounds += [{**label, **row} for row in per_round]
            churn.append({**label, **_churn_row(per_round, logged, k)})
            crashes += [{**label, **row} for row in _crashes(client, run.run_id)]
        elif run.workload == "restart":
            times = {m: v for m, v in logged.items() if m.startswith("restart.")}
            if run.disturbed:  # timed while other processes took the CPU: no times shown
                times = {m: v for m, v in times.items() if m.endswith("read_mb")}
            restarts.append({**label, **times})
    return Lifecycle(*(pd.DataFrame(rows) for rows in (churn, rounds, crashes, restarts)))


def _rounds(
    client: mlflow.MlflowClient, run_id: str, logged: dict[str, float], k: int
) -> list[dict]:
    """Each round's state from the run's metric steps; the compacted state from `logged`."""
    names = {c: f"churn.recall_at_{k}" if c == "recall" else f"churn.{c}" for c in ROUNDS}
    history = {
        c: {m.step: m.value for m in client.get_metric_history(run_id, name)}
        for c, name in names.items()
    }
    steps = sorted(history["recall"])
    out = [{"round": s, **{c: history[c].get(s, np.nan) for c in ROUNDS}} for s in steps]
    if f"compacted.recall_at_{k}" in logged:
        compacted = {c: logged.get(f"compacted.{names[c].removeprefix('churn.')}") for c in ROUNDS}
        out.append({"round": -1, **{c: np.nan if v is None else v for c, v in compacted.items()}})
    return out


def _churn_row(per_round: list[dict], logged: dict[str, float], k: int) -> dict:
    built = per_round[0]
    last = [r for r in per_round if r["round"] >= 0][-1]
    compacted = next((r for r in per_round if r["round"] == -1), None)
    nan = np.nan
    return {
        "rounds": last["round"],
        f"recall@{k} built": built["recall"],
        f"recall@{k} last round": last["recall"],
        f"recall@{k} compacted": compacted["recall"] if compacted else nan,
        "QPS built": built["qps"],
        "QPS last round": last["qps"],
        "QPS compacted": compacted["qps"] if compacted else nan,
        "deleted rows returned (max share)": max(r["deleted_result_share"] for r in per_round),
        "file MB built": built["file_mb"],
        "file MB last round": last["file_mb"],
        "compaction s": logged.get("compaction_s", nan),
        "insert rows/s": logged.get("churn.insert_rows_per_s", nan),
        "insert rows/s without index": logged.get("no_index.insert_rows_per_s", nan),
    }


def _crashes(client: mlflow.MlflowClient, run_id: str) -> list[dict]:
    if not any(a.path == "churn/crashes.parquet" for a in client.list_artifacts(run_id, "churn")):
        return []
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="churn/crashes.parquet")
    frame = pd.read_parquet(path)
    return frame[["kill", "killed", "committed", "opened", "outcome"]].to_dict("records")


def figure(life: Lifecycle, k: int = 10) -> Figure | None:
    """Recall@k and QPS over the churn rounds, one line per churn run (coloured by engine),
    its state after compaction right of the last round."""
    if life.rounds.empty:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    last = int(life.rounds["round"].max())
    # Colour says the engine, the line's style the data (scale and dim).
    styles = dict(
        zip(life.rounds[["scale", "dim"]].apply(tuple, axis=1).unique(), LINES * 9, strict=False)
    )
    for (_, engine), rows in life.rounds.groupby(["run", "engine"], sort=False):
        style = styles[(rows["scale"].iat[0], rows["dim"].iat[0])]
        x = np.where(rows["round"] < 0, last + 1, rows["round"])
        order = np.argsort(x)
        for ax, column in zip(axes, ("recall", "qps"), strict=True):
            ax.plot(
                x[order],
                rows[column].to_numpy()[order],
                marker="o",
                linestyle=style,
                color=ENGINE_COLORS[engine],
                label=f"{engine} {rows['scale'].iat[0]} d{rows['dim'].iat[0]}",
            )
    for ax, label in zip(
        axes, (f"recall@{k} over the live rows", "QPS, one client (log)"), strict=True
    ):
        ax.axvline(last + 0.5, color="grey", linestyle="--", linewidth=1)
        ticks = [*range(last + 2)]
        ax.set_xticks(ticks, [*map(str, ticks[:-1]), "compacted"])
        ax.set_xlabel("round (0: the initial build)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    if life.rounds["qps"].notna().any():
        axes[1].set_yscale("log")
    else:
        axes[1].set_yticks([])
        axes[1].set_ylabel("QPS, one client")
        no_data(
            axes[1], "QPS left out: every churn run was\ntimed while other processes took the CPU"
        )
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    axes[0].legend(unique.values(), unique.keys(), fontsize=7)
    fig.suptitle("Churn: rounds of deletes, updates and inserts, then the engine's compaction")
    fig.tight_layout()
    return fig


def findings(life: Lifecycle) -> list[str]:
    """One sentence per churn run, per crash-tested run and per restart run."""
    out = []
    for row in life.churn.to_dict("records"):
        recall = [c for c in row if c.startswith("recall@")]
        compacted = row[recall[2]]
        after = "" if np.isnan(compacted) else f", {compacted:.3f} after compaction"
        deleted = row["deleted rows returned (max share)"]
        out.append(
            f"{row['scale']} d{row['dim']} {row['engine']} churn: {recall[0].split()[0]} "
            f"{row[recall[0]]:.3f} at the build, {row[recall[1]]:.3f} after {row['rounds']:.0f} "
            f"rounds{after}; "
            + (
                "QPS left out (timed while other processes took the CPU); "
                if row["disturbed"]
                else f"QPS {row['QPS built']:.0f} -> {row['QPS last round']:.0f}; "
            )
            + (
                "no deleted row returned."
                if deleted == 0
                else f"{deleted:.1%} of returned rows deleted."
            )
        )
    if not life.crashes.empty:
        for run, rows in life.crashes.groupby("run", sort=False):
            killed = rows[rows["kill"] > 0]
            counts = killed["outcome"].value_counts()
            listed = "; ".join(f"{n}x {text}" for text, n in counts.items())
            base = rows.loc[rows["kill"] == 0, "outcome"].iat[0]
            out.append(
                f"{run}: {int((killed['outcome'] == 'ok').sum())} of {len(killed)} killed copies "
                f"reopened with rows and index agreeing ({listed}); unkilled baseline: {base}."
            )
    for row in life.restarts.to_dict("records"):
        if row["disturbed"]:
            out.append(
                f"{row['scale']} d{row['dim']} {row['engine']} restart: times left out (timed "
                "while other processes took the CPU)."
            )
            continue
        cold, warm = (row.get(f"restart.{m}_to_first_answer_s", np.nan) for m in MODES)
        out.append(
            f"{row['scale']} d{row['dim']} {row['engine']} restart: first answer {cold:.2f} s "
            f"after process start cold, {warm:.2f} s warm (index open "
            f"{row.get('restart.cold_open_s', np.nan):.2f} / {row.get('restart.warm_open_s', np.nan):.2f} s; "
            f"first query {row.get('restart.cold_first_query_ms', np.nan):.1f} ms cold against "
            f"{row.get('restart.cold_steady_p50_ms', np.nan):.2f} ms p50 after)."
        )
    return out


def tables(life: Lifecycle) -> dict[str, pd.DataFrame]:
    """The tables of this part, by their section titles."""
    restart_columns = {
        f"restart.{m}_{c}": f"{m} {c}"
        for m in MODES
        for c in ("to_first_answer_s", "open_s", "first_query_ms", "steady_p50_ms", "read_mb")
    }
    out = {}
    if not life.churn.empty:
        out["Churn: per run"] = life.churn
    if not life.crashes.empty:
        out["Crash tests: per killed copy"] = life.crashes
    if not life.restarts.empty:
        shown = life.restarts[
            ["run", "engine", "scale", "dim", *[c for c in restart_columns if c in life.restarts]]
        ]
        out["Restarts: geometric means over the fresh processes"] = shown.rename(
            columns=restart_columns
        )
    return out
