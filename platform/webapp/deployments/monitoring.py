"""Request monitoring for deployments, kept off the request path.

A request only appends a small record to an in-memory buffer; a thread in each web process
flushes the buffer to Redis every second in one pipeline: per-minute counters (requests,
errors, rows), a per-minute latency histogram, and a bounded sample of recent input values per
column for drift. The deployment page reads them back and compares the sample with the
training data's profile.

Redis is also the job queue, so what monitoring keeps there is bounded: a few values per
request, text cut to ``SAMPLE_CHARACTERS``, at most ``SAMPLE_SIZE`` values per column. While
Redis is away, records are dropped rather than held (the buffer stays small) and counted; the
count is written once Redis is back and shown with the report.
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
SAMPLE_CHARACTERS = 100
# Records held between two flushes; more arrive only if Redis stalls, and are dropped.
BUFFERED = 100_000
# A column drifts when its population stability index passes this (0.2 is the usual "major").
DRIFT_PSI = 0.2
DRIFT_MISSING = 0.1
# Fewer recent values than this say too little to call a column drifting.
DRIFT_MIN_VALUES = 20

_buffer: deque = deque()
_flusher: threading.Thread | None = None
_started = threading.Lock()
# Records dropped per deployment (Redis away, or the buffer full), not yet written to Redis.
_dropped: Counter = Counter()
_dropped_lock = threading.Lock()


def record(deployment_id: int, *, ok: bool, columns: dict | None, seconds: float) -> None:
    """Note one request, with its checked ``{column: values}`` when it was answered; costs an
    append (the flush thread does the rest)."""
    if len(_buffer) >= BUFFERED:
        _drop({deployment_id: 1})
        return
    n_rows = len(next(iter(columns.values()), [])) if columns else 0
    sample = _sample(columns) if ok and columns else None
    _buffer.append((deployment_id, time.time(), ok, n_rows, seconds * 1000, sample))
    if _flusher is None:
        _start()


def _sample(columns: dict[str, list]) -> dict[str, list]:
    """The first values of each column, text cut short: what drift needs, and no more."""
    return {
        name: [_bounded(v) for v in values[:SAMPLE_ROWS_PER_REQUEST]]
        for name, values in columns.items()
    }


def _bounded(value):
    return value[:SAMPLE_CHARACTERS] if isinstance(value, str) else value


def _drop(counts: dict[int, int]) -> None:
    with _dropped_lock:
        _dropped.update(counts)


def _start() -> None:
    global _flusher
    with _started:
        if _flusher is None:
            _flusher = threading.Thread(target=_flush_forever, name="monitoring", daemon=True)
            _flusher.start()


def _flush_forever() -> None:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    is_down = False
    while True:
        time.sleep(FLUSH_SECONDS)
        try:
            flush(client)
        except redis.RedisError as err:  # keep serving; the records are counted as dropped
            if not is_down:
                logger.warning("Monitoring cannot reach Redis, dropping records: %s", err)
            is_down = True
        else:
            if is_down:
                logger.info("Monitoring reaches Redis again")
            is_down = False


def flush(client) -> int:
    """Write the buffered records to Redis; returns how many were written. When Redis cannot
    be reached they are dropped and counted, and the error is raised."""
    records = []
    while _buffer:
        records.append(_buffer.popleft())
    with _dropped_lock:
        dropped = dict(_dropped)
        _dropped.clear()
    try:
        _write(client, records, dropped)
    except redis.RedisError:
        _drop(Counter(deployment_id for deployment_id, *_ in records) + Counter(dropped))
        raise
    return len(records)


def _write(client, records: list, dropped: dict[int, int]) -> None:
    if not records and not dropped:
        return
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
        for column, values in (sample or {}).items():
            key = (deployment_id, column)
            samples.setdefault(key, deque(maxlen=SAMPLE_SIZE)).extend(values)
    pipe = client.pipeline(transaction=False)
    for deployment_id, n in dropped.items():
        pipe.incrby(f"deploy:{deployment_id}:dropped", n)
        pipe.expire(f"deploy:{deployment_id}:dropped", KEEP_SECONDS)
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


def report(deployment) -> dict:
    """Traffic over the last hour and drift of the serving version's columns."""
    version = deployment.current
    columns = []
    if version is not None:
        served = {c["name"] for c in version.schema}
        dataset = version.candidate.experiment.dataset
        columns = [c for c in dataset.columns() if c["name"] in served]
    dropped = int(client().get(f"deploy:{deployment.pk}:dropped") or 0)
    return {**summary(deployment.pk), "drift": drift(deployment.pk, columns), "dropped": dropped}


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

    from automl import parse_booleans

    return parse_booleans(pd.Series(labels, dtype=object)).tolist()
