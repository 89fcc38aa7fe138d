"""The AutoML engine: a pure Python library that turns a table into tuned models.

It never imports Django or Celery; the web platform and the workers are thin shells over it.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
