"""The AutoML engine: a pure Python library that turns a table into tuned models.

It never imports Django or Celery; the web platform and the workers are thin shells over it.

>>> from automl import AutoML, load, read_table
>>> df = read_table("customers.csv")                          # doctest: +SKIP
>>> run = AutoML(time_budget=60).fit(df, target="churned")    # doctest: +SKIP
>>> run.leaderboard_                                          # doctest: +SKIP
>>> run.save("models/churn"); model = load("models/churn")    # doctest: +SKIP
"""

# Defined before the imports below: artifacts records it in every manifest.
__version__ = "0.1.0"

from automl.automl import AutoML
from automl.exceptions import ArtifactError, AutoMLError, DataError, NotFittedError
from automl.metrics import METRICS
from automl.model import Model, load
from automl.profiling import DatasetProfile, profile
from automl.reading import Dialect, read_table, sniff
from automl.search import Event

__all__ = [
    "METRICS",
    "ArtifactError",
    "AutoML",
    "AutoMLError",
    "DataError",
    "DatasetProfile",
    "Dialect",
    "Event",
    "Model",
    "NotFittedError",
    "__version__",
    "load",
    "profile",
    "read_table",
    "sniff",
]
