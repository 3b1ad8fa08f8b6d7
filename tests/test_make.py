"""The Makefile's own checks: a profile that does not exist stops make with one line."""

import subprocess

from tarf.paths import ROOT


def test_misspelt_profile_is_one_line_naming_the_valid_ones():
    r = subprocess.run(["make", "-n", "reproduce", "PROFILE=defualt"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode != 0
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert "PROFILE=defualt is not a profile; valid: cifar10 cifar100 default default-v2 fmnist smoke" in lines[0]
    ok = subprocess.run(["make", "-n", "help", "PROFILE=smoke"], cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
