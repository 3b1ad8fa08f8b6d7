"""`make site`: executed/<profile>/*.ipynb as a static HTML site in site/, readable offline.

  python scripts/site.py [--out site] [profile ...]     # default: default, and fmnist where present

site/index.html holds each profile's verdict tables (results/<profile>/claims.csv, verdicts/*.csv)
and a gallery of every figures/<profile>/*.png, each linking to the notebook that drew it (the file
name starts with the notebook's number); site/<profile>/<notebook>.html is nbconvert's JupyterLab
rendering with the commit and date that last changed the executed notebook. Images are embedded or
copied, and the template's CDN scripts (require.js, MathJax, mermaid) are left out: nothing is
fetched at build or view time.
"""

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
from jinja2 import DictLoader
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
MARK = ".tarf-site"  # a folder holding this file is a site this script built, safe to replace
CLAIMS_NOTEBOOK = "10_full_table"  # writes results/<profile>/claims.csv

# The lab template without its network: each emptied block would put a CDN <script> in <head>.
TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block extra_css -%}<link rel="icon" href="data:,"><style>
.site-nav { font: 14px/1.5 system-ui, sans-serif; padding: 8px 12px; margin-bottom: 12px;
  background: #f3f5f8; border-bottom: 1px solid #d0d7de; }
.site-nav a { margin-right: 1em; }
</style>{%- endblock extra_css -%}
{%- block body_header -%}{{ super() }}
<nav class="site-nav">{{ resources.site_nav }}</nav>
{%- endblock body_header -%}
"""

CSS = """body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 0 16px; }
table { border-collapse: collapse; margin: 8px 0 20px; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f5f8; }
.holds { background: #dafbe1; } .does-not-hold { background: #ffebe9; } .undecided { background: #fff8c5; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 16px; align-items: start; }
figure { margin: 0; border: 1px solid #d0d7de; padding: 8px; }
figure img { width: 100%; height: auto; }
figcaption { font-size: 13px; }
code { font-size: 13px; }"""


def git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def provenance(path: Path, nb) -> str:
    """The commit the notebook ran on (tarf.env_report's 'commit' line) and the commit that last
    changed the executed notebook, each with its date."""
    ran = re.search(r"^commit (\w+)$", printed(nb), re.M)
    out = []
    if ran:
        date = git("show", "-s", "--format=%cs", ran[1])
        out.append(f"ran on the code of commit <code>{ran[1]}</code>" + (f" of {date}" if date else ""))
    last = (git("log", "-1", "--format=%h %cs", "--", str(path)) or "").split()
    out.append(f"recorded in commit <code>{last[0]}</code> of {last[1]}" if last else "not committed yet")
    if last and git("status", "--porcelain", "--", str(path)):
        out[-1] += " (changed since, not committed)"
    return ", ".join(out)


def printed(nb) -> str:
    """Everything the notebook printed."""
    return "\n".join("".join(o.get("text", "")) for c in nb.cells for o in c.get("outputs", []))


def title(nb) -> str:
    """The notebook's first markdown heading, without its '#'."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("#"):
            return cell.source.lstrip().splitlines()[0].lstrip("#").strip()
    return ""


def table(df: pd.DataFrame, links: list[str]) -> str:
    """df as an HTML table, a verdict column coloured, and a last column of links (HTML)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns) + "<th>notebook</th>"
    rows = []
    for (_, row), link in zip(df.iterrows(), links):
        cells = "".join(f'<td class="{str(v).replace(" ", "-")}">{html.escape(str(v))}</td>' if c == "verdict"
                        else f"<td>{html.escape(str(v))}</td>" for c, v in row.items())
        rows.append(f"<tr>{cells}<td>{link}</td></tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


# A relative link in a notebook's markdown (../docs/tarf.md#…) names a file of the repository, and
# the site has no page for it: show the path it names instead of a link that leads nowhere.
RELATIVE_LINK = re.compile(r'<a href="(?![a-zA-Z][a-zA-Z0-9+.-]*:|#|/)([^"]+)">(.*?)</a>', re.S)


def repository_paths(body: str, folder: Path) -> str:
    """``body`` with each relative link (from ``folder``) to a repository file outside executed/ (a
    notebook's page is in the site) as its text and the path, e.g. ``docs/tarf.md#group-scores``."""
    def path_of(m: re.Match) -> str:
        target, _, fragment = html.unescape(m.group(1)).partition("#")
        try:
            rel = (folder / target).resolve().relative_to(ROOT)
        except ValueError:  # outside the repository: leave it
            return m.group(0)
        if rel.parts[:1] == ("executed",) or not (ROOT / rel).is_file():  # a page of the site, or none
            return m.group(0)
        shown = html.escape(rel.as_posix() + (f"#{fragment}" if fragment else ""))
        text = m.group(2)
        code = f'<code title="in the repository">{shown}</code>'
        return code if re.sub(r"<[^>]+>", "", text).strip() == shown else f"{text} ({code})"
    return RELATIVE_LINK.sub(path_of, body)


def build_profile(profile: str, out: Path, exporter: HTMLExporter) -> str:
    """Write site/<profile>/ (one page per notebook, the figures) and return its index section."""
    (out / profile / "figures").mkdir(parents=True)
    paths = sorted((ROOT / "executed" / profile).glob("[0-9][0-9]_*.ipynb"))
    nbs = {p.stem: nbformat.read(p, as_version=4) for p in paths}
    names = list(nbs)
    made = {}
    for i, (name, nb) in enumerate(nbs.items()):
        path = ROOT / "executed" / profile / f"{name}.ipynb"
        made[name] = provenance(path.relative_to(ROOT), nb)
        pm = nb.metadata.get("papermill", {})
        params = ", ".join(f"{k}={v}" for k, v in pm.get("parameters", {}).items())
        nav = [f'<a href="../index.html#{profile}">← index ({profile})</a>']
        if i > 0:
            nav.append(f'<a href="{names[i - 1]}.html">‹ {names[i - 1]}</a>')
        if i + 1 < len(names):
            nav.append(f'<a href="{names[i + 1]}.html">{names[i + 1]} ›</a>')
        nav.append(f"<br><code>executed/{profile}/{name}.ipynb</code>, {made[name]}"
                   + (f"; papermill {pm.get('version', '')} with {html.escape(params)}" if pm else ""))
        body, _ = exporter.from_notebook_node(nb, resources={"site_nav": " ".join(nav),
                                                            "metadata": {"name": f"{name} ({profile})"}})
        body = repository_paths(body, ROOT / "notebooks")  # the links were written in the source
        (out / profile / f"{name}.html").write_text(body, encoding="utf-8")

    parts = [f'<h2 id="{profile}">Profile <code>{profile}</code></h2>']
    results = ROOT / "results" / profile
    if (results / "claims.csv").exists() and CLAIMS_NOTEBOOK in nbs:
        claims = pd.read_csv(results / "claims.csv")
        link = f'<a href="{profile}/{CLAIMS_NOTEBOOK}.html">{CLAIMS_NOTEBOOK}</a>'
        parts += [f"<h3>The paper's claims (<code>results/{profile}/claims.csv</code>)</h3>",
                  table(claims, [link] * len(claims))]
    files = sorted((results / "verdicts").glob("*.csv"))
    if files:
        obs = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
        links = []
        for o in obs["observation"]:  # the notebook that printed "<observation> <verdict> on profile"
            src = [n for n, nb in nbs.items() if any(line.startswith(f"{o} ") and "on profile" in line
                                                     for line in printed(nb).splitlines())]
            links.append(f'<a href="{profile}/{src[0]}.html">{src[0]}</a>' if src else "")
        parts += [f"<h3>The observations (<code>results/{profile}/verdicts/</code>)</h3>", table(obs, links)]
    parts.append("<h3>Notebooks</h3><table><tr><th>notebook</th><th>title</th><th>produced by</th></tr>"
                 + "".join(f'<tr><td><a href="{profile}/{n}.html">{n}</a></td><td>{html.escape(title(nb))}</td>'
                           f"<td>{made[n]}</td></tr>" for n, nb in nbs.items()) + "</table>")
    figures = []
    for png in sorted((ROOT / "figures" / profile).glob("*.png")):
        shutil.copy2(png, out / profile / "figures" / png.name)
        nb = next((n for n in names if n[:3] == png.name[:3]), None)  # "06_obs4_bars.png" -> 06_…
        img = f'<img src="{profile}/figures/{png.name}" alt="{png.stem}">'
        if nb:
            img = f'<a href="{profile}/{nb}.html">{img}</a>'
        figures.append(f"<figure>{img}"
                       f'<figcaption><code>{png.name}</code>' + (f" · notebook {nb}" if nb else "")
                       + "</figcaption></figure>")
    parts.append(f"<h3>Figures (<code>figures/{profile}/</code>)</h3><div class=\"gallery\">{''.join(figures)}</div>")
    return "\n".join(parts)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profiles", nargs="*", help="default: default, and fmnist where executed")
    ap.add_argument("--out", type=Path, default=ROOT / "site")
    args = ap.parse_args(argv)
    profiles = args.profiles or [p for p in ("default", "fmnist")
                                 if any((ROOT / "executed" / p).glob("[0-9][0-9]_*.ipynb"))]
    out = args.out.resolve()
    if out.exists():
        if not (out / MARK).exists() and any(out.iterdir()):
            sys.exit(f"{out} exists and is not a site this script built; not replacing it")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARK).touch()
    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"site.html.j2": TEMPLATE})],
                            template_file="site.html.j2")
    sections = [build_profile(p, out, exporter) for p in profiles]
    toc = " · ".join(f'<a href="#{p}">{p}</a>' for p in profiles)
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>TARF companion</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"><style>{CSS}</style></head>'
            f"<body><h1>TARF companion: executed notebooks</h1><p>Profiles: {toc}. Built by "
            f"<code>make site</code> from <code>executed/</code>, <code>results/</code> and "
            f"<code>figures/</code>; each notebook page names the commit that produced it.</p>"
            + "\n".join(sections) + "</body></html>\n")
    (out / "index.html").write_text(page, encoding="utf-8")
    print(json.dumps({"site": str(out), "profiles": profiles,
                      "pages": sorted(str(p.relative_to(out)) for p in out.rglob("*.html"))}, indent=None))


if __name__ == "__main__":
    main()
