from django.contrib.auth import get_user_model
from django.urls import reverse

PASSWORD = "correct-horse-battery"


def make_user(username: str = "alice", **overrides):
    return get_user_model().objects.create_user(
        username=username, password=overrides.pop("password", PASSWORD), **overrides
    )


def launch(client, dataset, **fields):
    data = {
        "target": "churned", "task": "auto", "metric": "auto", "time_budget": "60",
        "validation": "cv", "n_splits": "3", "holdout_size": "0.2",
        "families": ["hist_gradient_boosting", "linear"], **fields,
    }  # fmt: skip
    return client.post(reverse("experiments:new", args=[dataset.pk]), data)


def dead_runner() -> str:
    """A job runner (``host:pid:start``) on this machine whose process has exited."""
    import os
    import subprocess

    process = subprocess.Popen(["true"])
    process.wait()
    return f"{os.uname().nodename}:{process.pid}:1"
