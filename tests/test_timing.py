import time

from tarf import timing


def test_stages_are_exclusive_and_collected_per_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("TARF_TIMINGS", str(tmp_path))
    monkeypatch.setenv("TARF_NOTEBOOK", "09_tarf")
    monkeypatch.setattr(timing, "_totals", {})

    @timing.stage("evaluation")
    def evaluate():
        time.sleep(0.05)

    t = time.perf_counter()
    with timing.stage("unlearning"):
        time.sleep(0.05)
        evaluate()
    wall = time.perf_counter() - t
    timing._write()
    got = timing.collect(tmp_path)
    assert set(got) == {"09_tarf"}
    st = got["09_tarf"]
    assert st["evaluation"] >= 0.05 and st["unlearning"] >= 0.05
    assert abs(st["evaluation"] + st["unlearning"] - wall) < 0.005  # the inner one is not counted twice


def test_off_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("TARF_TIMINGS", raising=False)
    monkeypatch.setattr(timing, "_totals", {})
    with timing.stage("training"):
        pass
    assert timing._totals == {}


def test_processes_counts_every_writer_of_a_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("TARF_TIMINGS", str(tmp_path))
    for pid, nb in [(11, "02_base_training"), (12, "02_base_training"), (13, "09_tarf")]:
        (tmp_path / f"{nb}-{pid}.json").write_text(f'{{"notebook": "{nb}", "stages": {{"training": 2.0}}}}')
    assert timing.processes(tmp_path) == {"02_base_training": 2, "09_tarf": 1}
    assert timing.collect(tmp_path)["02_base_training"] == {"training": 4.0}


def test_a_named_folder_that_does_not_exist_is_made(tmp_path, monkeypatch):
    folder = tmp_path / "not" / "yet"  # a reproduction started with TARF_TIMINGS before its mkdir
    monkeypatch.setenv("TARF_TIMINGS", str(folder))
    monkeypatch.setenv("TARF_NOTEBOOK", "01_splits")
    monkeypatch.setattr(timing, "_totals", {})
    with timing.stage("training"):
        pass
    timing._write()
    assert set(timing.collect(folder)) == {"01_splits"}
