"""The checks on real tables: every finding of ``automl.profile`` on each dataset of a folder.

Each dataset of the folder's manifest.json is profiled with its target, all columns kept (its
``drop_columns`` too: they are the known leaks a check should find), and every check that did
not pass is printed with its columns, action and numbers, then the seconds profiling took. The
goal: a clean real table gets no false alarm, and a real problem is never missed.

    .venv/bin/python benchmarks/checks.py                   # ../shared/datasets
    .venv/bin/python benchmarks/checks.py --only diabetes_pima --passed
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from automl import profile, read_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="datasets to profile")
    parser.add_argument("--passed", action="store_true", help="print passed checks too")
    args = parser.parse_args()
    manifest = json.loads((args.datasets / "manifest.json").read_text())
    for entry in manifest["datasets"]:
        if args.only and entry["name"] not in args.only:
            continue
        table = read_table(args.datasets / entry["file"])
        started = time.perf_counter()
        result = profile(table, entry["target"])
        seconds = time.perf_counter() - started
        print(f"\n## {entry['name']} ({len(table)} rows, target {entry['target']!r}, "
              f"known leaks {entry.get('drop_columns') or 'none'}): {seconds:.1f} s")  # fmt: skip
        for check in result.checks:
            if check.status == "passed" and not args.passed:
                continue
            print(f"- {check.status:6s} {check.id}: {check.message}")
            if check.action:
                print(f"  action: {check.action}")
            if check.details:
                print(f"  details: {json.dumps(check.details, default=str)[:300]}")


if __name__ == "__main__":
    main()
