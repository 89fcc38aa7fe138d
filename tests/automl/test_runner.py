"""One rule says whether the process doing a piece of work still does: the platform's jobs
use it, and here the search's trials and the workers that wait to share the final refit,
which may be on this machine or another."""

import subprocess
import time

import optuna

from automl import runner_alive, runner_name
from automl.study import LOST_AFTER, is_lost, sign


def _exited() -> str:
    process = subprocess.Popen(["true"])
    process.wait()
    host, _, _ = runner_name().split(":")
    return f"{host}:{process.pid}:1"


def test_a_runner_is_alive_until_it_exits_or_its_id_is_reused():
    assert runner_alive(runner_name()) is True
    assert runner_alive(_exited()) is False
    host, pid, started = runner_name().split(":")
    # After a container restart, a new process can get a dead runner's id.
    assert runner_alive(f"{host}:{pid}:{int(started) - 1}") is False
    # Another machine's process cannot be asked, nor can a name that is no runner's.
    assert runner_alive(f"elsewhere:{pid}:{started}") is None
    assert runner_alive("") is None


def _running(attrs: dict) -> optuna.trial.FrozenTrial:
    study = optuna.create_study()
    trial = study.ask()
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    return study.trials[0]


def test_a_trial_is_lost_when_its_worker_exits_here_or_falls_silent_elsewhere():
    now = time.time()
    study = optuna.create_study()
    signed = study.ask()
    sign(signed)
    assert not is_lost(study.trials[0], now)
    assert study.trials[0].user_attrs["worker"] == runner_name().rsplit(":", 1)[0]
    assert is_lost(_running({"runner": _exited(), "beat": now}), now)
    elsewhere = {"runner": "elsewhere:1:1", "worker": "elsewhere:1"}
    assert not is_lost(_running({**elsewhere, "beat": now - 5}), now)
    assert is_lost(_running({**elsewhere, "beat": now - LOST_AFTER - 1}), now)
    # Killed before its first beat: silent since the trial started.
    assert is_lost(_running(elsewhere), now + LOST_AFTER + 1)
    assert not is_lost(_running(elsewhere), now)


def test_the_refit_counts_the_helpers_that_wait_and_beat_only():
    from types import SimpleNamespace

    from automl.search import REFIT_SILENT_AFTER, Search

    study = optuna.create_study()
    search = SimpleNamespace(study_=study)
    for index, name in enumerate(["a:1", "b:2", "c:3", "d:4"], start=1):
        study.set_user_attr(f"joined:{index}", name)
    study.set_user_attr("refitting:a:1", time.time())  # waits, and says so
    study.set_user_attr("refitting:b:2", time.time() - REFIT_SILENT_AFTER - 1)  # killed
    study.set_user_attr("refitting:c:3", False)  # left
    # d:4 never says: it is given a moment, then not counted.
    started = time.monotonic()
    assert Search.refit_helpers(search) == 1
    assert time.monotonic() - started >= 1
    study.set_user_attr("refitting:d:4", time.time())
    assert Search.refit_helpers(search) == 2
