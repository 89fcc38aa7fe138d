"""Experiments benchmark: each shared dataset through a real platform's JSON API, as an
analyst's script would drive it: upload, wait until ready, launch a Quick experiment (60 s),
follow it to the end, download the best model.

Reports, per dataset, the time from launch to the first leaderboard row and to the end, the
number of models, the best cross-validated score, and the artifact's size.

    python benchmarks/experiments.py                       # ../shared/datasets, 60 s each
    python benchmarks/experiments.py --budget 30 --only titanic insurance
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from live import ROOT, peak_memory_mb, platform


def run(client, path: Path, spec: dict, budget: int) -> dict:
    dataset = client.upload(path)
    dataset = client.wait(f"/api/v1/datasets/{dataset['id']}", {"ready", "failed"})
    if dataset["status"] != "ready":
        return {"error": dataset["error"]}
    body = {"dataset": dataset["id"], "target": spec["target"], "time_budget": budget,
            "exclude": spec.get("drop_columns") or []}  # fmt: skip
    launched = time.monotonic()
    experiment = client.post("/api/v1/experiments", body)
    if "id" not in experiment:
        return {"error": json.dumps(experiment["detail"])}
    url = f"/api/v1/experiments/{experiment['id']}"
    first_row = None
    while True:
        state = client.get(url)
        if first_row is None and state["leaderboard"]:
            first_row = time.monotonic() - launched
        if state["status"] not in ("queued", "running"):
            break
        time.sleep(0.25)
    ended = time.monotonic() - launched
    best = next((row for row in state["leaderboard"] if row["rank"] == 1), None)
    status, archive = client.request("GET", f"/api/v1/models/{state['best_model_id']}/artifact")
    return {
        "status": state["status"],
        "error": state["error"],
        "first_row": first_row,
        "ended": ended,
        "models": len(state["leaderboard"]),
        "metric": state["metric"],
        "score": best and best["score"],
        "artifact_kb": len(archive) / 1024 if status == 200 else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    manifest = json.loads((args.data / "manifest.json").read_text())
    specs = [d for d in manifest["datasets"] if not args.only or d["name"] in args.only]

    print(f"{'dataset':22} {'status':9} {'1st row':>8} {'end':>7} {'models':>6} "
          f"{'metric':9} {'score':>10} {'model':>9}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, platform(Path(tmp)) as (client, _):
        for spec in specs:
            result = run(client, args.data / spec["file"], spec, args.budget)
            if "status" not in result:
                print(f"{spec['name']:22} failed: {result['error']}")
                continue
            print(f"{spec['name']:22} {result['status']:9} {result['first_row']:7.1f}s "
                  f"{result['ended']:6.1f}s {result['models']:6d} {result['metric']:9} "
                  f"{result['score']:10.4g} {result['artifact_kb']:7.0f}KB"
                  + (f"  {result['error']}" if result["error"] else ""))  # fmt: skip
        print(f"Peak memory: web {peak_memory_mb('webapp.wsgi'):.0f} MB, "
              f"worker {peak_memory_mb('webapp.celery_app'):.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
