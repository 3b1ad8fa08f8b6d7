"""scripts/site.py: a notebook's relative links to repository files (no page in the site) are shown
as the path they name; links between the site's own pages are kept."""

import importlib.util

from tarf.paths import ROOT

spec = importlib.util.spec_from_file_location("site_builder", ROOT / "scripts" / "site.py")
site_builder = importlib.util.module_from_spec(spec)
spec.loader.exec_module(site_builder)


def test_links_to_repository_files_become_paths_and_site_links_stay():
    body = ('<a href="../docs/tarf.md#group-scores">docs/tarf.md#group-scores</a> '
            '<strong><a href="../docs/metrics.md">the metrics</a></strong> '
            '<a href="../index.html#default">index</a> <a href="08_observation6.html">next</a> '
            '<a href="https://openreview.net/forum?id=Xpj0yeMhpz">paper</a> <a href="#top">top</a>')
    got = site_builder.repository_paths(body, ROOT / "notebooks")
    assert '<code title="in the repository">docs/tarf.md#group-scores</code> ' in got
    assert 'the metrics (<code title="in the repository">docs/metrics.md</code>)' in got
    for kept in ('<a href="../index.html#default">index</a>', '<a href="08_observation6.html">next</a>',
                 '<a href="https://openreview.net/forum?id=Xpj0yeMhpz">paper</a>', '<a href="#top">top</a>'):
        assert kept in got
    assert 'href="../docs' not in got
