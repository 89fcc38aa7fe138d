"""Small seeded tables for the engine's tests: signal a model can find, in messy clothes."""

import numpy as np
import pandas as pd
import pytest


def make_table(task: str, n_rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Numbers, a category, a date, yes/no and an ID; the target depends on several of them."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n_rows), rng.normal(size=n_rows)
    city = rng.choice(["Paris", "Lyon", "Nice", "Lille"], size=n_rows)
    member = rng.choice(["yes", "no"], size=n_rows)
    signal = 2 * x1 - x2 + (city == "Paris") * 1.5 + (member == "yes") * 1.0
    df = pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n_rows),
            "x1": x1,
            "x2": np.round(x2, 3).astype(str),  # numbers stored as text
            "city": city,
            "member": member,
            "signup": pd.date_range("2020-01-01", periods=n_rows, freq="D").strftime("%d/%m/%Y"),
        }
    )
    df.loc[rng.choice(n_rows, n_rows // 10, replace=False), "x1"] = np.nan
    noise = rng.normal(scale=0.5, size=n_rows)
    if task == "regression":
        df["y"] = 10 * signal + noise
    elif task == "binary":
        df["y"] = np.where(signal + noise > np.median(signal), "churned", "stayed")
    else:
        df["y"] = pd.cut(signal + noise, 3, labels=["low", "mid", "high"]).astype(str)
    return df


@pytest.fixture
def binary_table():
    return make_table("binary")


@pytest.fixture
def multiclass_table():
    return make_table("multiclass")


@pytest.fixture
def regression_table():
    return make_table("regression")


def skewed_table(n_rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """The regression table with a price-like target: never negative, a long right tail."""
    df = make_table("regression", n_rows=n_rows, seed=seed)
    df["y"] = 1000 * np.exp(df["y"] / 20)
    return df
