"""tarf/checks.py: one vocabulary and one NaN rule for the observations' and the claims' verdicts."""

import numpy as np
import pandas as pd
import pytest

from tarf import checks, observations
from tarf.checks import FAILS, HOLDS, NA


@pytest.mark.parametrize("value, op, threshold, want", [
    (1.0, "<=", 1.0, HOLDS), (1.01, "<=", 1.0, FAILS), (5, ">=", 5, HOLDS), (5, ">", 5, FAILS),
    (np.nan, ">=", 0, NA), (None, "<=", 0, NA), (np.inf, "<=", 0, NA), (2, "==", 2, HOLDS)])
def test_check(value, op, threshold, want):
    row = checks.check(value, op, threshold)
    assert row["holds"] == want and row["rule"] == f"{op} {threshold:.2f}"


def test_check_refuses_an_unknown_operator():
    with pytest.raises(ValueError, match="op='=>'"):
        checks.check(1, "=>", 0)


def test_overall_counts_applicable_checks_only():
    assert checks.overall([HOLDS, HOLDS, NA]) == (HOLDS, 2, 2)
    assert checks.overall([HOLDS, FAILS]) == (FAILS, 1, 2)
    assert checks.overall([NA, NA]) == (NA, 0, 0)
    assert checks.overall([]) == (NA, 0, 0)


def test_print_verdict_says_the_same_words(capsys, tmp_store):
    v = pd.DataFrame([{"scenario": "a", "check": "x", **checks.check(1, ">=", 0)},
                      {"scenario": "b", "check": "y", **checks.check(np.nan, ">=", 0)}])
    observations.print_verdict(v, "Observation 9", "default")
    out = capsys.readouterr().out
    assert "Observation 9 holds on profile 'default': 1/1 checks pass (1 n/a)." in out
    # conftest points TARF_OUTPUT at tmp_path/out: the verdict is kept there, never in the repository
    saved = pd.read_csv(tmp_store.parent / "out" / "results" / "default" / "verdicts" / "observation_9.csv")
    assert saved[["verdict", "checks"]].values.tolist() == [[HOLDS, "1/1"]]
