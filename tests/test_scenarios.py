"""The four scenarios as index splits (docs/scenarios.md): identities, label spaces, K, persistence,
and one error per kind of invalid request, each naming the culprit and what would be valid."""

import dataclasses

import numpy as np
import pytest
import torch

from tarf import data, params, scenarios
from tarf.params import SCENARIOS, ParamsError
from tarf.scenarios import RequestError

SMOKE = {"num_threads": 1}
K_EXPECTED = {"all_matched": 0, "target_mismatch": 2, "model_mismatch": 0, "data_mismatch": 1}
LABELS = {"all_matched": ("fine", 10), "target_mismatch": ("fine", 10),
          "model_mismatch": ("coarse", 5), "data_mismatch": ("coarse", 5)}


def s(a) -> set:
    return set(np.asarray(a).tolist())


def fine_names(ds, idx, which="train") -> set:
    y = (ds.y_train if which == "train" else ds.y_test)[torch.as_tensor(idx)]
    return {ds.classes[i] for i in y.tolist()}


# --- identities -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SCENARIOS)
def test_partition_identities(smoke_split, name):
    sc, D = smoke_split[name], s(smoke_split.train)
    f, t, un, fr, ar, r = (s(sc.idx[p]) for p in ("f", "t", "un", "fr", "ar", "r"))
    assert f and t and un and r
    assert f <= t  # D_f ⊆ D_t
    assert un == D - f  # D_un = D \ D_f
    assert r == D - t  # D_r = D \ D_t
    assert un == r | fr and not (r & fr)  # D_un = D_r ∪ D_fr, disjoint
    assert ar <= r  # D_ar ⊆ D_r
    assert f | fr == t and not (f & fr)  # D_f ∪ D_fr = D_t
    for p in scenarios.PARTS:  # index arrays: int64, sorted, no duplicates
        a = sc.idx[p]
        assert a.dtype == np.int64 and np.all(np.diff(a) > 0), p


@pytest.mark.parametrize("name", SCENARIOS)
def test_test_prime_and_label_space(smoke_split, smoke_ds, name):
    sc = smoke_split[name]
    assert fine_names(smoke_ds, sc.test_prime, "test").isdisjoint(sc.concept)
    assert s(sc.test_prime) == s(smoke_split.test) - s(
        smoke_split.test[np.isin(smoke_ds.y_test.numpy()[smoke_split.test],
                                 [smoke_ds.classes.index(c) for c in sc.concept])])
    assert (sc.label_space, sc.num_classes) == LABELS[name]
    y = scenarios.labels(smoke_ds, sc.label_space)
    assert int(y.max()) + 1 == sc.num_classes
    assert sc.K == K_EXPECTED[name]


HIDDEN = {"all_matched": [], "target_mismatch": ["Sandal", "Ankle boot"], "model_mismatch": [],
          "data_mismatch": ["footwear"]}


@pytest.mark.parametrize("name", SCENARIOS)
def test_hidden_groups(smoke_split, smoke_ds, name):
    sc = smoke_split[name]
    names = smoke_ds.classes if sc.label_space == "fine" else [c for c, _ in smoke_ds.hierarchy]
    groups = scenarios.hidden_groups(smoke_ds, sc)
    assert sorted(names[g] for g in groups) == sorted(HIDDEN[name]) and len(groups) == sc.K


@pytest.mark.parametrize("name", SCENARIOS)
def test_classes_of_each_part(smoke_split, smoke_ds, name):
    sc = smoke_split[name]
    assert fine_names(smoke_ds, sc.f) == {"Sneaker"}
    assert fine_names(smoke_ds, sc.fr) == ({"Sandal", "Ankle boot"} if name in ("target_mismatch", "data_mismatch")
                                           else set())
    assert fine_names(smoke_ds, sc.ar) == ({"Sandal", "Ankle boot"} if name == "model_mismatch" else set())
    assert fine_names(smoke_ds, sc.t) == set(sc.concept)


@pytest.mark.parametrize("name", SCENARIOS)
def test_mia_sampling(smoke_split, name):
    sc = smoke_split[name]
    assert s(sc.mia_members) <= s(sc.r)
    assert s(sc.mia_nonmembers) <= s(sc.test_prime)
    n = min(len(sc.r), len(sc.test_prime))
    assert len(sc.mia_members) == len(sc.mia_nonmembers) == n


def test_summary_table(smoke_split):
    df = scenarios.summary(smoke_split)
    assert list(df.index) == list(SCENARIOS)
    assert df["K"].tolist() == [0, 2, 0, 1]
    per_class = 30  # params/smoke: subset.train_per_class
    assert df.loc["target_mismatch", "|D_fr|"] == 2 * per_class  # Sandal, Ankle boot
    assert df.loc["model_mismatch", "|D_ar|"] == 2 * per_class


# --- persistence and seeds ------------------------------------------------------------------------

def assert_same(a, b):
    assert a.hash == b.hash
    assert np.array_equal(a.train, b.train) and np.array_equal(a.test, b.test)
    for name in SCENARIOS:
        for p in scenarios.PARTS:
            assert np.array_equal(a[name].idx[p], b[name].idx[p]), (name, p)
        assert (a[name].K, a[name].concept, a[name].label_space) == (b[name].K, b[name].concept, b[name].label_space)


def test_persisted_split_is_reused(smoke_ds, smoke_exp, monkeypatch, files):
    first = scenarios.load(smoke_ds, smoke_exp)
    assert any(f.startswith("splits/") and f.endswith(".npz") for f in files())
    assert_same(first, scenarios.build(smoke_ds, smoke_exp))  # stored = drawn

    def no_rebuild(*a, **k):
        raise AssertionError("the split was drawn again instead of loaded")

    monkeypatch.setattr(scenarios, "build", no_rebuild)
    second = scenarios.load(smoke_ds, smoke_exp)
    assert_same(first, second)


def test_split_metadata_lost_is_redrawn(smoke_ds, smoke_exp, files, tmp_store):
    """A crash between the index file and its metadata: the pair is redrawn, not an error."""
    first = scenarios.load(smoke_ds, smoke_exp)
    for f in files():
        if f.endswith(".json") or f.endswith(".json.sha256"):
            (tmp_store / f).unlink()
    assert_same(first, scenarios.load(smoke_ds, smoke_exp))
    assert any(f.endswith(".json") for f in files())


def test_split_seed(smoke_ds, smoke_exp):
    a = scenarios.build(smoke_ds, smoke_exp)
    assert_same(a, scenarios.build(smoke_ds, smoke_exp))
    other = scenarios.build(smoke_ds, dataclasses.replace(smoke_exp, split_seed=1))
    assert other.hash != a.hash
    assert not np.array_equal(other.train, a.train)
    assert not np.array_equal(other["all_matched"].mia_members, a["all_matched"].mia_members)


def test_split_seed_is_part_of_the_store_key(smoke_ds, smoke_exp, files):
    scenarios.load(smoke_ds, smoke_exp)
    scenarios.load(smoke_ds, dataclasses.replace(smoke_exp, split_seed=1))
    assert len([f for f in files() if f.endswith(".npz")]) == 2


# --- invalid requests -----------------------------------------------------------------------------

def build_with(ds, scenario, given, concept):
    exp = params.load("smoke", {**SMOKE, "requests": {scenario: {"given": given, "concept": concept}}})
    return scenarios.build(ds, exp)


BAD = [  # (scenario, given, concept, words the message must contain)
    ("all_matched", ["Sneakers"], ["Sneakers"],
     ["requests.all_matched.given", "unknown class 'Sneakers'", "valid:", "Sneaker", "Ankle boot"]),
    ("target_mismatch", ["Sneaker"], ["Sneaker", "Boot"],
     ["requests.target_mismatch.concept", "unknown class 'Boot'", "valid:", "Ankle boot"]),
    ("target_mismatch", ["Sneaker"], "shoes",
     ["requests.target_mismatch.concept", "unknown superclass 'shoes'", "valid:", "footwear", "tops"]),
    ("target_mismatch", ["Bag"], "footwear",
     ["requests.target_mismatch.given", "'Bag' not inside the concept", "Sandal, Sneaker, Ankle boot"]),
    ("all_matched", ["Sneaker"], "footwear",
     ["requests.all_matched", "concept = given", "given ['Sneaker']", "Sandal"]),
    ("target_mismatch", ["Sneaker"], ["Sneaker"],
     ["requests.target_mismatch", "D_fr is empty", "concept classes that are not given"]),
    ("model_mismatch", ["Trouser"], ["Trouser"],
     ["requests.model_mismatch", "D_ar is empty", "Trouser", "valid given classes", "Sneaker"]),
    ("data_mismatch", ["Sneaker"], ["Sneaker", "Sandal"],
     ["requests.data_mismatch", "whole superclass", "valid concepts: tops, footwear"]),
    ("all_matched", [], [],
     ["requests.all_matched.given", "empty", "Sneaker"]),
    ("target_mismatch", ["Sneaker"], list(data.FMNIST_CLASSES),
     ["requests.target_mismatch", "D_r is empty", "concept covers every class"]),
]


@pytest.mark.parametrize("scenario,given,concept,words", BAD, ids=[f"{b[0]}-{b[1]}-{b[2]}" for b in BAD])
def test_invalid_request(smoke_ds, scenario, given, concept, words, files):
    with pytest.raises(RequestError) as e:
        build_with(smoke_ds, scenario, given, concept)
    assert isinstance(e.value, ParamsError)
    for w in words:
        assert w in str(e.value), (w, str(e.value))
    assert files() == []


def flat_dataset(ds) -> data.Dataset:
    """The smoke data set with no class hierarchy (a data set that only has fine labels).

    Dataset's own check wants every fine class in the hierarchy, so the instance is made by hand."""
    fake = object.__new__(data.Dataset)
    for f in dataclasses.fields(data.Dataset):
        object.__setattr__(fake, f.name, getattr(ds, f.name))
    object.__setattr__(fake, "name", "flat")
    object.__setattr__(fake, "hierarchy", ())
    return fake


@pytest.mark.parametrize("scenario", ["model_mismatch", "data_mismatch"])
def test_coarse_scenario_needs_a_hierarchy(smoke_ds, smoke_exp, scenario):
    flat = flat_dataset(smoke_ds)
    exp = dataclasses.replace(smoke_exp, requests={scenario: smoke_exp.requests[scenario]})
    with pytest.raises(RequestError) as e:
        scenarios.build(flat, exp)
    msg = str(e.value)
    assert f"scenario {scenario!r}" in msg and "'flat'" in msg and "no hierarchy" in msg
    assert "valid scenarios here: all_matched, target_mismatch" in msg


def test_fine_scenarios_work_without_a_hierarchy(smoke_ds, smoke_exp):
    flat = flat_dataset(smoke_ds)
    reqs = {"all_matched": smoke_exp.requests["all_matched"],
            "target_mismatch": params.Request(["Sneaker"], ["Sandal", "Sneaker"])}
    split = scenarios.build(flat, dataclasses.replace(smoke_exp, requests=reqs))
    assert split["target_mismatch"].K == 1


def test_unknown_scenario_name(smoke_split):
    with pytest.raises(RequestError, match="scenario: unknown 'everything'; valid: .*all_matched"):
        smoke_split["everything"]
