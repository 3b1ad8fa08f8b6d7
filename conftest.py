import pytest


# nbval: stop comparing output types that change on every run (docs/protocol.md#nbval).
def pytest_collectstart(collector):
    path = getattr(collector, "path", None)
    if path is not None and path.suffix == ".ipynb":
        collector.skip_compare += ("stderr", "text/html", "application/javascript")


# `make test` runs the unit tests and nbval in one `pytest -n 2 --dist loadfile --no-loadscope-reorder`:
# a file is one unit of work, taken by whichever worker is free. Files that hold a test marked slow
# go first, then the notebooks, so that the many short files fill the end and neither worker
# waits alone on a long one. The sort is stable: a notebook's cells keep their order.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: (item.path not in slow, item.path.suffix != ".ipynb"))
