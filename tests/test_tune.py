"""Tuning picks by median Gap over tuning seeds, so one unlucky seed cannot choose the value."""

import pandas as pd

from tarf import tune


def test_choose_ranks_settings_by_median_gap_over_seeds():
    rows = []
    # lr 0.1: best on one seed, collapses on the two others; lr 0.01: steady
    for seed, gap_a, gap_b in [(1, 1.0, 3.0), (2, 40.0, 3.5), (3, 38.0, 2.5)]:
        rows.append({"lr": 0.1, "scenario": "all_matched", "seed": seed, "UA": 0, "RA": 50, "TA": 50,
                     "MIA": 100, "Gap": gap_a, "TIME_min": 0.1})
        rows.append({"lr": 0.01, "scenario": "all_matched", "seed": seed, "UA": 0, "RA": 90, "TA": 85,
                     "MIA": 100, "Gap": gap_b, "TIME_min": 0.1})
    ranked = tune.choose(pd.DataFrame(rows))
    assert ranked["lr"].tolist() == [0.01, 0.1]
    assert ranked.loc[0, "Gap_median"] == 3.0 and ranked.loc[0, "Gap_max"] == 3.5
    assert ranked.loc[1, "Gap_median"] == 38.0 and ranked["seeds"].tolist() == [3, 3]
