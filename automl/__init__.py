"""The AutoML engine: a pure Python library that turns a table into tuned models.

It never imports Django or Celery; the web platform and the workers are thin shells over it.

>>> from automl import AutoML, load, read_table
>>> df = read_table("customers.csv")                          # doctest: +SKIP
>>> run = AutoML(time_budget=60).fit(df, target="churned")    # doctest: +SKIP
>>> run.leaderboard_                                          # doctest: +SKIP
>>> run.save("models/churn"); model = load("models/churn")    # doctest: +SKIP
"""

import importlib

__version__ = "0.1.0"

# Public names load on first use (PEP 562): a web process that only needs ``automl.kinds``
# does not pay for Optuna and scikit-learn at start-up.
_EXPORTS = {
    "AutoML": "automl.automl",
    "read_manifest": "automl.artifacts",
    "by_group": "automl.fairness",
    "Unsupported": "automl.fast",
    "compile_rows": "automl.fast",
    "single_threaded": "automl.fast",
    "describe_preprocessor": "automl.features",
    "KINDS": "automl.kinds",
    "MAX_MAGNITUDE": "automl.kinds",
    "parse_booleans": "automl.kinds",
    "ENSEMBLE": "automl.learners",
    "LEARNERS": "automl.learners",
    "family_title": "automl.learners",
    "suggest_targets": "automl.profiling",
    "close_storage": "automl.study",
    "open_storage": "automl.study",
    "QUOTED_CHARACTERS": "automl.wording",
    "listing": "automl.wording",
    "plain": "automl.wording",
    "quoted": "automl.wording",
    "shortened": "automl.wording",
    "ArtifactError": "automl.exceptions",
    "AutoMLError": "automl.exceptions",
    "DataError": "automl.exceptions",
    "NotFittedError": "automl.exceptions",
    "TooLargeError": "automl.exceptions",
    "METRICS": "automl.metrics",
    "Model": "automl.model",
    "load": "automl.model",
    "DatasetProfile": "automl.profiling",
    "profile": "automl.profiling",
    "profile_parquet": "automl.profiling",
    "Dialect": "automl.reading",
    "count_rows": "automl.reading",
    "read_batches": "automl.reading",
    "read_table": "automl.reading",
    "sniff": "automl.reading",
    "Export": "automl.export",
    "onnx_inputs": "automl.export",
    "to_onnx": "automl.export",
    "Rows": "automl.rows",
    "read_rows": "automl.rows",
    "runner_alive": "automl.runner",
    "runner_name": "automl.runner",
    "Event": "automl.search",
    "join_search": "automl.search",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'automl' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__
