"""One search over several processes, through Optuna's storage and a shared work folder: the
processes ``n_jobs`` starts, and workers that join from elsewhere (``automl join``)."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import optuna
import pytest

from automl import AutoML, join_search
from automl.ensemble import Blend
from automl.study import Workdir, open_storage
from tests.automl.test_fast import table

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _joiner(workdir) -> subprocess.Popen:
    """``automl join`` in a process of its own, as on another machine."""
    return subprocess.Popen(
        [sys.executable, "-m", "automl", "join", str(workdir)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def _study(workdir) -> optuna.Study:
    return optuna.load_study(study_name="search", storage=open_storage(Workdir(workdir).journal))


def trains_a_candidate(study: optuna.Study, pid: int) -> bool:
    """Whether process ``pid`` trains a candidate of ``study`` now: a trial with a model id,
    not only its name (one still waiting for its window is no candidate yet, and losing it
    costs no leaderboard row)."""
    running = study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    return any(
        t.user_attrs.get("worker", "").endswith(f":{pid}") and "model_id" in t.user_attrs
        for t in running
    )


def _until(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _joined(workdir) -> bool:
    return any(key.startswith("joined:") for key in _study(workdir).user_attrs)


def test_two_processes_share_one_search():
    train = table("multiclass", 400, seed=8)
    run = AutoML(time_budget=120, n_trials=10, n_jobs=2, families=["linear", "random_forest"])
    run.fit(train, target="y")
    board = run.leaderboard_
    searched = board[board["family"] != "ensemble"]
    assert run.n_workers_ == 2 and searched["worker"].nunique() == 2
    assert searched["worker"].str.endswith(f":{os.getpid()}").any()  # the coordinator's
    assert len(searched) == 10 and (board["family"] == "ensemble").sum() == 1
    assert run._threads() == max((os.cpu_count() or 1) // 2, 1)  # 2 x threads <= cores
    rows = train.drop(columns=["y"]).head(20)
    assert run.predict_proba(rows).shape == (20, 3)


def test_the_same_seed_and_parallelism_give_the_same_leaderboard():
    # Past the portfolio, so that TPE's suggestions and pruning come from the shared history.
    train = table("binary", 300, seed=9)
    settings = {"time_budget": 120, "n_trials": 9, "seed": 3, "n_jobs": 2,
                "families": ["linear", "hist_gradient_boosting"]}  # fmt: skip
    first = AutoML(**settings).fit(train, target="y").leaderboard_
    second = AutoML(**settings).fit(train, target="y").leaderboard_
    columns = ["model_id", "family", "state", "score", "params"]
    assert first["worker"].nunique() == 2
    assert first[columns].to_dict("records") == second[columns].to_dict("records")


def test_a_worker_joins_from_elsewhere_and_a_lost_one_costs_its_trial(tmp_path):
    train = table("binary", 400, seed=3)
    workdir = tmp_path / "search"
    joiner = _joiner(workdir)
    killed = []

    def wait_for_the_joiner(event):
        if event.kind == "search_started":
            _until(lambda: _joined(workdir))
            threading.Thread(target=kill_it_mid_trial, daemon=True).start()

    def kill_it_mid_trial():
        _until(lambda: trains_a_candidate(_study(workdir), joiner.pid))
        os.kill(joiner.pid, signal.SIGKILL)
        killed.append(joiner.pid)

    run = AutoML(time_budget=120, n_trials=5, n_splits=3, families=["random_forest", "extra_trees"])
    run.fit(train, target="y", workdir=workdir, parallelism=2, callbacks=[wait_for_the_joiner])
    joiner.wait(30)
    assert killed == [joiner.pid]
    board = run.leaderboard_
    lost = board[board["error"].fillna("").str.startswith("Its worker stopped")]
    assert len(lost) == 1 and lost["worker"].iloc[0].endswith(f":{joiner.pid}")
    assert lost["state"].iloc[0] == "failed"
    # Tried once more by a worker alive: the same configuration, completed.
    params = lost["params"].iloc[0]
    again = board[(board["state"] == "complete") & board["params"].map(lambda p: p == params)]
    assert len(again) >= 1
    assert run.model_ is not None


def test_a_worker_lost_while_it_waits_for_its_turn_holds_up_no_trial(tmp_path, monkeypatch):
    import automl.search as search
    import automl.study

    # Found lost by its process only: silence would hold the search to its deadline.
    monkeypatch.setattr(automl.study, "LOST_AFTER", 3600)
    train = table("binary", 400, seed=5)
    workdir = tmp_path / "search"
    joiner = _joiner(workdir)
    evaluate, killed = search.Trials._evaluate, []

    def waiting() -> bool:  # on a trial of the joiner's, not a candidate yet
        running = _study(workdir).get_trials(states=(optuna.trial.TrialState.RUNNING,))
        return any(t.user_attrs.get("worker", "").endswith(f":{joiner.pid}")
                   and "model_id" not in t.user_attrs for t in running)  # fmt: skip

    # With two workers a trial waits until the one two before it has ended: the
    # coordinator's first one ends only after the joiner, waiting on it, is killed.
    def once_the_joiner_waits(self, candidate, trial):
        if not killed:
            _until(waiting)
            os.kill(joiner.pid, signal.SIGKILL)
            killed.append(joiner.pid)
        return evaluate(self, candidate, trial)

    monkeypatch.setattr(search.Trials, "_evaluate", once_the_joiner_waits)
    run = AutoML(time_budget=300, n_trials=5, n_splits=3, families=["linear"])
    run.fit(train, target="y", workdir=workdir, parallelism=2)
    joiner.wait(30)
    assert killed == [joiner.pid]
    failed = _study(workdir).get_trials(states=(optuna.trial.TrialState.FAIL,))
    assert [t.user_attrs["worker"].endswith(f":{joiner.pid}") for t in failed] == [True]
    board = run.leaderboard_
    assert (board[board["family"] != "ensemble"]["state"] == "complete").sum() == 5


def test_a_fit_takes_over_the_search_of_a_lost_coordinator(tmp_path):
    train = table("binary", 400, seed=4)
    workdir = tmp_path / "search"
    train.to_csv(tmp_path / "train.csv", index=False)
    script = (
        "import sys, pandas as pd\n"
        "from automl import AutoML\n"
        "AutoML(time_budget=60, n_trials=4, n_splits=3, families=['random_forest']).fit(\n"
        "    pd.read_csv(sys.argv[1]), target='y', workdir=sys.argv[2])\n"
    )
    first = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "train.csv"),
                              str(workdir)], cwd=ROOT)  # fmt: skip
    _until(lambda: (workdir / "plan.pkl").exists() and _done(workdir) >= 2)
    first.kill()
    first.wait()
    run = AutoML(time_budget=60, n_trials=4, n_splits=3, families=["random_forest"])
    run.fit(train, target="y", workdir=workdir)
    board = run.leaderboard_
    by_the_first = board[board["worker"].str.endswith(f":{first.pid}")]
    assert len(by_the_first[by_the_first["state"] == "complete"]) >= 2
    assert board["worker"].str.endswith(f":{os.getpid()}").any()
    assert run.model_ is not None


def _done(workdir) -> int:
    try:
        study = _study(workdir)
    except KeyError:
        return 0
    return len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))


def _refits(workdir) -> list[optuna.trial.FrozenTrial]:
    return [t for t in _study(workdir).get_trials() if "round" in t.user_attrs]


def _refit_by(workdir, pid: int, state=None) -> list[optuna.trial.FrozenTrial]:
    return [t for t in _refits(workdir) if t.user_attrs.get("worker", "").endswith(f":{pid}")
            and (state is None or t.state == state)]  # fmt: skip


@pytest.mark.parametrize("lost", [False, True], ids=["shared", "helper-lost"])
def test_the_final_refit_is_shared_with_the_workers_and_a_lost_one_costs_nothing(
    tmp_path, monkeypatch, lost
):
    import automl.search as search

    train = table("multiclass", 400, seed=8)
    workdir = tmp_path / "search"
    joiner = _joiner(workdir)
    fit = search.fit_pipeline
    running = optuna.trial.TrialState.RUNNING

    # The coordinator's first member waits until the joiner has taken another (and, for
    # "helper-lost", kills it while it fits), so each worker gets a share however fast.
    def once_the_joiner_has_one(*args):
        if lost and joiner.poll() is None:
            _until(lambda: _refit_by(workdir, joiner.pid, running))
            os.kill(joiner.pid, signal.SIGKILL)
        _until(lambda: _refit_by(workdir, joiner.pid))
        return fit(*args)

    monkeypatch.setattr(search, "fit_pipeline", once_the_joiner_has_one)
    run = AutoML(time_budget=120, n_trials=8, n_splits=3, families=["random_forest", "extra_trees"])
    run.fit(train, target="y", workdir=workdir, parallelism=2)
    joiner.wait(30)
    members = run.model_.info["params"]["members"]
    assert run.model_.info["family"] == "ensemble" and len(members) >= 2
    refits = _refits(workdir)
    assert {t.user_attrs["refit"] for t in refits} == {m["model_id"] for m in members}
    assert _refit_by(workdir, os.getpid(), optuna.trial.TrialState.COMPLETE)
    helper_state = optuna.trial.TrialState.FAIL if lost else optuna.trial.TrialState.COMPLETE
    taken = _refit_by(workdir, joiner.pid, helper_state)
    # Shared, the joiner may take more than one member; lost, it took one.
    assert (len(taken) == 1) if lost else (len(taken) >= 1)
    # Whoever fit each member, the model is the one a refit here on every row gives.
    X, labels = train.drop(columns=["y"]), np.unique(train["y"])
    codes = np.searchsorted(labels, train["y"])
    here = [fit(run.profile_, m["family"], m["params"], 0, 1, X, codes) for m in members]
    expected = Blend(here, [m["weight"] for m in members], len(labels)).predict_proba(X)
    np.testing.assert_allclose(run.predict_proba(X), expected, atol=1e-9)


def test_join_search_without_a_search_gives_up(tmp_path):
    assert join_search(tmp_path / "nothing", wait=0.5) == 0


def test_n_jobs_is_checked():
    with pytest.raises(Exception, match="n_jobs"):
        AutoML(n_jobs=0).fit(table("binary", 50, seed=0), target="y")
    assert np.isfinite(AutoML(n_jobs=-1)._threads())


def test_on_a_large_table_the_workers_share_only_the_sample_the_search_uses(tmp_path, monkeypatch):
    import automl.automl as engine
    from tests.automl.conftest import make_table

    # A "large" table at test size: the search trains on 300 rows and validates on 300.
    monkeypatch.setattr(engine, "MIN_SEARCH_ROWS", 300)
    monkeypatch.setattr(engine, "SEARCH_CELLS", 1)
    train = make_table("regression", n_rows=3000, seed=4)
    run = AutoML(time_budget=120, n_trials=4, n_jobs=2, validation="holdout", test_size=0.1,
                 families=["linear", "hist_gradient_boosting"])  # fmt: skip
    run.fit(train, target="y", workdir=tmp_path / "search")
    X, y, _, _ = Workdir(tmp_path / "search").read_rows()
    assert len(X) == len(y) == 600  # not the 2,700 training rows
    assert run.n_search_rows_ == 300 and run.leaderboard_["worker"].nunique() == 2
    assert run.model_.info["n_rows"] == 2700  # the final model trains on every row
    importance = {row["column"]: row for row in run.model_.info["importance"]}
    assert importance and all(row["importance"] is not None for row in importance.values())
