"""tarf/checks.py: one vocabulary, one NaN rule and one interval rule for the observations' and the
claims' verdicts (docs/protocol.md#how-sure-a-verdict-is)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tarf import checks, observations
from tarf.checks import FAILS, HOLDS, NA, TIED, UNDECIDED


@pytest.mark.parametrize("value, op, threshold, want", [
    (1.0, "<=", 1.0, HOLDS), (1.01, "<=", 1.0, FAILS), (5, ">=", 5, HOLDS), (5, ">", 5, FAILS),
    (np.nan, ">=", 0, NA), (None, "<=", 0, NA), (np.inf, "<=", 0, NA), (2, "==", 2, HOLDS)])
def test_check_as_a_point(value, op, threshold, want):
    row = checks.check(value, op, threshold)
    assert row["holds"] == want and row["rule"] == f"{op} {threshold:.2f}"


def test_check_refuses_an_unknown_operator():
    with pytest.raises(ValueError, match="op='=>'"):
        checks.check(1, "=>", 0)
    with pytest.raises(ValueError, match="op='=>'"):
        checks.check_seeds([1, 2], "=>", 0)


def test_interval_is_a_90_percent_t_interval():
    mean, half, n = checks.interval([1.0, 2.0, 6.0])
    assert (mean, n) == (3.0, 3)
    assert half == pytest.approx(stats.t.ppf(0.95, 2) * np.std([1, 2, 6], ddof=1) / np.sqrt(3))
    assert checks.interval([4.0, np.nan]) == (4.0, pytest.approx(np.nan, nan_ok=True), 1)
    assert checks.interval([np.nan])[2] == 0


@pytest.mark.parametrize("values, op, threshold, want", [
    ([30.0, 31.0, 29.0], ">=", 25.0, HOLDS),  # clear pass: 30 ± 1.7
    ([10.0, 11.0, 9.0], ">=", 25.0, FAILS),  # clear fail: 10 ± 1.7
    ([20.0, 40.0, 30.0], ">=", 25.0, UNDECIDED),  # straddle: 30 ± 16.9 contains 25
    ([0.0, 0.0, 0.0], "<=", 5.0, HOLDS),  # no spread: the interval is the point
    ([4.0, 6.0], "<=", 5.0, UNDECIDED),
    ([7.0], "<=", 5.0, UNDECIDED),  # one seed: no interval, never decided
    ([np.nan, np.nan], "<=", 5.0, NA),
    ([1.0, 1.0], ">", 1.0, FAILS), ([1.0, 1.0], ">=", 1.0, HOLDS),
])
def test_check_seeds_three_outcomes(values, op, threshold, want):
    row = checks.check_seeds(values, op, threshold)
    assert row["holds"] == want
    assert row["n"] == sum(np.isfinite(values))


def test_a_lowest_check_that_straddles_is_a_tie():
    assert checks.check_seeds([-2.0, 2.0, 0.5], "<=", 0.0, tie=True)["holds"] == TIED
    assert checks.check_seeds([-2.0, -2.1, -1.9], "<=", 0.0, tie=True)["holds"] == HOLDS
    assert checks.check_seeds([2.0, 2.1, 1.9], "<=", 0.0, tie=True)["holds"] == FAILS


def test_tied_names_the_methods_within_noise_of_the_lowest():
    gaps = pd.DataFrame({"iu": [0.2, 0.1, 0.3], "original": [0.1, 0.4, 0.2], "ga": [9.0, 9.5, 8.5],
                         "tarf": [0.3, 0.25, 0.2], "bs": [np.nan] * 3})
    assert checks.tied(gaps) == ["iu", "original", "tarf"]  # by mean; ga is beyond noise; bs not run
    assert checks.tied(gaps.iloc[:1]) == ["original"]  # one seed: only the lowest


def test_overall_counts_applicable_checks_only():
    assert checks.overall([HOLDS, HOLDS, NA]) == (HOLDS, 2, 2)
    assert checks.overall([HOLDS, FAILS]) == (FAILS, 1, 2)
    assert checks.overall([HOLDS, UNDECIDED]) == (UNDECIDED, 1, 2)
    assert checks.overall([UNDECIDED, FAILS]) == (FAILS, 0, 2)
    assert checks.overall([HOLDS, TIED]) == (TIED, 2, 2)
    assert checks.overall([NA, NA]) == (NA, 0, 0)
    assert checks.overall([]) == (NA, 0, 0)


def test_seeds_to_decide():
    assert checks.seeds_to_decide([20.0, 40.0, 30.0], 25.0) == 13
    assert checks.seeds_to_decide([1.0, 1.0], 1.0) is None  # on the threshold with no spread
    assert checks.seeds_to_decide([0.0, 10.0, 0.1], 3.3, most=5) is None
    assert checks.seeds_to_decide([7.0], 5.0) is None


def test_print_verdict_says_the_same_words(capsys, tmp_store):
    v = pd.DataFrame([{"scenario": "a", "check": "x", **checks.check_seeds([1.0, 1.2, 0.9], ">=", 0)},
                      {"scenario": "b", "check": "y", **checks.check_seeds([np.nan], ">=", 0)},
                      {"scenario": "c", "check": "z", **checks.check_seeds([1.0, -1.0, 0.5], ">=", 0)}])
    observations.print_verdict(v, "Observation 9", "default")
    out = capsys.readouterr().out
    assert "1.03 ± 0.26" in out
    assert ("Observation 9 undecided on profile 'default': 1/2 checks pass (1 undecided, 1 n/a), "
            "over 3 seeds.") in out
    # conftest points TARF_OUTPUT at tmp_path/out: the verdict is kept there, never in the repository
    saved = pd.read_csv(tmp_store.parent / "out" / "results" / "default" / "verdicts" / "observation_9.csv")
    assert saved[["verdict", "checks", "seeds"]].values.tolist() == [[UNDECIDED, "1/2", 3]]
    assert saved["value ± 90% CI"].iloc[0] == "1.03 ± 0.26; 0.17 ± 1.75"
