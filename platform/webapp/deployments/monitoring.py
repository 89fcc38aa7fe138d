"""Request monitoring for deployments, kept off the request path.

A request only appends a small record to an in-memory buffer; a thread in each web process
flushes the buffer to Redis every second in one pipeline: per-minute counters (requests,
errors, rows), a per-minute latency histogram, and a bounded sample of recent input values per
column for drift. The deployment page reads them back and compares the sample with the
training data's profile.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import threading
import time
from collections import Counter, deque

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
KEEP_SECONDS = 7 * 24 * 3600
# Latency histogram bucket upper bounds, in ms: fine where requests usually are.
LATENCY_BOUNDS = [1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000,
                  2000, 5000, 10_000, math.inf]  # fmt: skip
SAMPLE_ROWS_PER_REQUEST = 20
SAMPLE_SIZE = 2000
# A column drifts when its population stability index passes this (0.2 is the usual "major").
DRIFT_PSI = 0.2
DRIFT_MISSING = 0.1
# Fewer recent values than this say too little to call a column drifting.
DRIFT_MIN_VALUES = 20

_buffer: deque = deque(maxlen=100_000)  # bounded: a Redis outage must not eat the memory
_flusher: threading.Thread | None = None
_started = threading.Lock()


def record(deployment_id: int, *, ok: bool, rows: list | None, seconds: float) -> None:
    """Note one request; costs an append (the flush thread does the rest)."""
    sample = rows[:SAMPLE_ROWS_PER_REQUEST] if ok and rows else None
    _buffer.append((deployment_id, time.time(), ok, len(rows or []), seconds * 1000, sample))
    if _flusher is None:
        _start()


def _start() -> None:
    global _flusher
    with _started:
        if _flusher is None:
            _flusher = threading.Thread(target=_flush_forever, name="monitoring", daemon=True)
            _flusher.start()


def _flush_forever() -> None:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    while True:
        time.sleep(FLUSH_SECONDS)
        try:
            flush(client)
        except redis.RedisError as err:  # keep serving; the records wait for the next flush
            logger.warning("Monitoring could not reach Redis: %s", err)


def flush(client) -> int:
    """Write the buffered records to Redis; returns how many were written."""
    records = []
    while _buffer:
        records.append(_buffer.popleft())
    if not records:
        return 0
    # Summed here first, so one flush sends a command per counter and per column, however
    # many requests it holds: the thread holds the interpreter briefly under any load.
    counts: Counter = Counter()
    samples: dict[tuple[int, str], deque] = {}
    for deployment_id, when, ok, n_rows, ms, sample in records:
        minute = (deployment_id, int(when // 60))
        counts[minute, "requests"] += 1
        counts[minute, "errors"] += not ok
        counts[minute, "rows"] += n_rows
        counts[minute, f"lat{bisect.bisect_left(LATENCY_BOUNDS, ms)}"] += 1
        for row in sample or []:
            for column, value in row.items():
                key = (deployment_id, column)
                samples.setdefault(key, deque(maxlen=SAMPLE_SIZE)).append(value)
    pipe = client.pipeline(transaction=False)
    for ((deployment_id, minute), field), n in counts.items():
        pipe.hincrby(f"deploy:{deployment_id}:m:{minute}", field, n)
    for deployment_id, minute in {key for key, _ in counts}:
        pipe.expire(f"deploy:{deployment_id}:m:{minute}", KEEP_SECONDS)
    for (deployment_id, column), values in samples.items():
        key = f"deploy:{deployment_id}:sample:{column}"
        pipe.lpush(key, *(json.dumps(value) for value in values))
        pipe.ltrim(key, 0, SAMPLE_SIZE - 1)
        pipe.expire(key, KEEP_SECONDS)
    pipe.execute()
    return len(records)


def report(deployment) -> dict:
    """Traffic over the last hour and drift of the serving version's columns."""
    version = deployment.current
    columns = []
    if version is not None:
        served = {c["name"] for c in version.schema}
        dataset = version.candidate.experiment.dataset
        columns = [c for c in dataset.columns() if c["name"] in served]
    return {**summary(deployment.pk), "drift": drift(deployment.pk, columns)}


def client():
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)


def summary(deployment_id: int, *, minutes: int = 60) -> dict:
    """Requests, errors and rows per minute over the last ``minutes``, and latency percentiles."""
    now = int(time.time() // 60)
    pipe = client().pipeline(transaction=False)
    span = range(now - minutes + 1, now + 1)
    for minute in span:
        pipe.hgetall(f"deploy:{deployment_id}:m:{minute}")
    buckets = [0] * len(LATENCY_BOUNDS)
    series = []
    for minute, counts in zip(span, pipe.execute(), strict=True):
        counts = {k.decode(): int(v) for k, v in counts.items()}
        series.append({"minute": minute * 60, **{k: counts.get(k, 0) for k in
                                                 ("requests", "errors", "rows")}})  # fmt: skip
        for index in range(len(LATENCY_BOUNDS)):
            buckets[index] += counts.get(f"lat{index}", 0)
    total = {k: sum(point[k] for point in series) for k in ("requests", "errors", "rows")}
    latency = {f"p{q}": _percentile(buckets, q / 100) for q in (50, 95, 99)}
    return {"series": series, "total": total, "latency_ms": latency}


def _percentile(buckets: list[int], q: float) -> float | None:
    """The bucket bound below which a share ``q`` of requests fell (an upper estimate)."""
    count = sum(buckets)
    if not count:
        return None
    seen = 0
    for bound, n in zip(LATENCY_BOUNDS, buckets, strict=True):
        seen += n
        if seen >= q * count:
            return bound if math.isfinite(bound) else None
    return None


def drift(deployment_id: int, columns: list[dict]) -> list[dict]:
    """Each column's recent inputs against its training profile: the share missing and a
    population stability index over the training histogram or top categories."""
    pipe = client().pipeline(transaction=False)
    for column in columns:
        pipe.lrange(f"deploy:{deployment_id}:sample:{column['name']}", 0, -1)
    report = []
    for column, raw in zip(columns, pipe.execute(), strict=True):
        values = [json.loads(v) for v in raw]
        if not values:
            continue
        present = [v for v in values if v is not None]
        missing = 1 - len(present) / len(values)
        psi = _psi(column, present)
        shifted = psi is not None and psi > DRIFT_PSI
        gaps = abs(missing - column.get("missing", 0)) > DRIFT_MISSING
        drifted = len(values) >= DRIFT_MIN_VALUES and (shifted or gaps)
        report.append({
            "name": column["name"], "n": len(values), "missing": missing,
            "training_missing": column.get("missing", 0), "psi": psi, "drifted": drifted,
        })  # fmt: skip
    return report


def _psi(column: dict, values: list) -> float | None:
    stats = column.get("stats") or {}
    if "histogram" in stats:
        edges, expected = stats["histogram"]["edges"], stats["histogram"]["counts"]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if not numbers:
            return None
        actual = [0] * len(expected)
        for v in numbers:
            index = min(max(bisect.bisect_right(edges, v) - 1, 0), len(expected) - 1)
            actual[index] += 1
        return _stability(expected, actual)
    if "top" in stats:
        top = [str(v) for v, _ in stats["top"]]
        if column["kind"] == "boolean":  # trained on "yes"/"no" and the like, sent as true/false
            top = [str(v) for v in _as_booleans(top)]
        expected = [n for _, n in stats["top"]]
        expected.append(max(column.get("count", 0) - sum(expected), 0))
        actual = [0] * len(expected)
        for v in values:
            value = str(v)
            actual[top.index(value) if value in top else -1] += 1
        return _stability(expected, actual)
    return None


def _stability(expected: list[int], actual: list[int]) -> float | None:
    """The population stability index of two count vectors over the same bins."""
    total_e, total_a = sum(expected), sum(actual)
    if not total_e or not total_a:
        return None
    psi = 0.0
    for e, a in zip(expected, actual, strict=True):
        pe, pa = max(e / total_e, 1e-4), max(a / total_a, 1e-4)
        psi += (pa - pe) * math.log(pa / pe)
    return round(psi, 4)


def _as_booleans(labels: list[str]) -> list:
    import pandas as pd

    from automl import kinds as K

    return K.convert(pd.Series(labels, dtype=object), "boolean").tolist()
