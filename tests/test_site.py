"""`make test-site`: build the site (scripts/site.py), open every page in headless Chromium, check it.

Every page must load (HTTP 200) with no console error, uncaught exception or failed request, ask
nothing of any host but the local server, show every <img> with a non-zero natural size, and every
link to this site must reach an existing page (and the element its #fragment names). A screenshot of
each page goes to site/screenshots/.

Debian's chromium (`apt-get install chromium`) is driven over the Chrome DevTools Protocol on a pipe
(--remote-debugging-pipe: JSON messages ending in NUL on fds 3 and 4), so no driver, no browser
download and no Python package beyond the standard library. `make test` skips this file: it runs
only with TARF_SITE_TEST=1, which `make test-site` sets.
"""

import base64
import fcntl
import functools
import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
SHOT_HEIGHT = {"index.html": 16000}  # px from the top: all of the index, a notebook page's first 5000
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--remote-debugging-pipe"]

pytestmark = pytest.mark.skipif(not os.environ.get("TARF_SITE_TEST"), reason="the browser test: make test-site")


class Browser:
    """Headless Chromium, one tab, spoken to over the DevTools pipe."""

    def __init__(self, profile_dir: Path):
        exe = shutil.which("chromium")
        assert exe, "no chromium on PATH: apt-get install chromium (Debian's package)"
        to_child, self._w = os.pipe()
        self._r, from_child = os.pipe()

        def fds():  # in the child, before exec: its fd 3 reads our commands, fd 4 writes replies
            a, b = fcntl.fcntl(to_child, fcntl.F_DUPFD, 10), fcntl.fcntl(from_child, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.log = profile_dir / "chromium.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile_dir}", "about:blank"],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         close_fds=False, preexec_fn=fds)
        os.close(to_child)
        os.close(from_child)
        self._buf, self._id, self.events = b"", 0, []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=1280, height=900,
                  deviceScaleFactor=1, mobile=False)

    def _message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError(f"chromium did not answer; its log: {self.log.read_text()[-2000:]}")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium exited; its log: {self.log.read_text()[-2000:]}")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, session: bool = False, timeout: float = 60, **params) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._message(deadline)
            if m.get("id") == self._id:
                assert "error" not in m, f"{method}: {m['error']}"
                return m["result"]
            self.events.append(m)

    def wait_for(self, method: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._message(deadline))

    def evaluate(self, js: str):
        r = self.call("Runtime.evaluate", session=True, expression=js, awaitPromise=True, returnByValue=True)
        assert "exceptionDetails" not in r, r["exceptionDetails"]
        return r["result"]["value"]

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except (TimeoutError, RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)


# After the load event: wait for every image to settle, then what the checks need.
PAGE_JS = """(async () => {
  await Promise.all(Array.from(document.images, i => i.complete ? null
                    : new Promise(r => { i.onload = i.onerror = r; })));
  return {
    images: Array.from(document.images, i => ({src: i.src.slice(0, 80), w: i.naturalWidth, h: i.naturalHeight})),
    links: Array.from(document.querySelectorAll('a[href]'), a => a.href),
    ids: Array.from(document.querySelectorAll('[id], a[name]'), e => e.id || e.getAttribute('name')),
    height: document.documentElement.scrollHeight,
    text: document.body.innerText.length,
  };
})()"""


def problems_of(events: list[dict], base: str) -> list[str]:
    """Console errors, uncaught exceptions, failed or off-site requests among one page's events."""
    out = []
    for e in events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.exceptionThrown":
            out.append(f"exception: {p['exceptionDetails'].get('exception', {}).get('description') or p['exceptionDetails']['text']}")
        elif m == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
            out.append(f"console.{p['type']}: {[a.get('value', a.get('description')) for a in p['args']]}")
        elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
            out.append(f"console error: {p['entry']['text']} {p['entry'].get('url', '')}")
        elif m == "Network.requestWillBeSent":
            url = p["request"]["url"]
            if not url.startswith((base, "data:", "about:")):
                out.append(f"request off the local server: {url}")
        elif m == "Network.responseReceived" and p["response"]["status"] >= 400:
            out.append(f"HTTP {p['response']['status']}: {p['response']['url']}")
        elif m == "Network.loadingFailed":
            out.append(f"request failed: {p.get('errorText')} ({p.get('type')})")
    return out


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Build the site into site/, start Chromium, then serve site/ on 127.0.0.1 (a thread)."""
    t0 = time.monotonic()
    subprocess.run([sys.executable, str(ROOT / "scripts" / "site.py"), "--out", str(SITE)], check=True,
                   stdout=subprocess.DEVNULL)
    print(f"\nsite built in {time.monotonic() - t0:.1f} s")
    browser = Browser(tmp_path_factory.mktemp("chromium-profile"))  # before the thread: it forks
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(SITE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield browser, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    browser.close()


def test_every_page_loads_clean_and_every_internal_link_resolves(served):
    browser, base = served
    shots = SITE / "screenshots"
    shots.mkdir()
    pages = ["index.html"] + sorted(str(p.relative_to(SITE)) for p in SITE.glob("*/*.html"))
    assert len(pages) > 1, "the site has no notebook pages"
    seen, problems, t0 = {}, [], time.monotonic()
    for page in pages:
        url = base + page
        browser.events.clear()
        nav = browser.call("Page.navigate", session=True, url=url)
        assert not nav.get("errorText"), f"{page}: {nav['errorText']}"
        browser.wait_for("Page.loadEventFired")
        info = browser.evaluate(PAGE_JS)
        shot = browser.call("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True,
                            clip={"x": 0, "y": 0, "width": 1280, "height": min(info["height"], SHOT_HEIGHT.get(page, 5000)),
                                  "scale": 1})
        (shots / (page.replace("/", "__").removesuffix(".html") + ".png")).write_bytes(base64.b64decode(shot["data"]))
        time.sleep(0.2)  # a late console message still counts
        browser.call("Runtime.evaluate", session=True, expression="0")
        problems += [f"{page}: {p}" for p in problems_of(browser.events, base)]
        problems += [f"{page}: image with no natural size: {i['src']}" for i in info["images"] if not i["w"] or not i["h"]]
        if not info["text"]:
            problems.append(f"{page}: no text")
        seen[url] = info
    for url, info in seen.items():
        for link in info["links"]:
            if not link.startswith(base):
                continue
            target, _, fragment = link.partition("#")
            if target not in seen:
                problems.append(f"{url.removeprefix(base)}: link to a page that is not in the site: {link}")
            # as the HTML standard finds a fragment's element: the id as written, else percent-decoded
            # (nbconvert writes heading ids percent-encoded: id="01-%C2%B7-The-four-…")
            elif fragment and not {fragment, urllib.parse.unquote(fragment)} & set(seen[target]["ids"]):
                problems.append(f"{url.removeprefix(base)}: link to a missing anchor: {link}")
    n_img = sum(len(i["images"]) for i in seen.values())
    n_links = sum(len(i["links"]) for i in seen.values())
    print(f"{len(pages)} pages, {n_img} images, {n_links} links checked in {time.monotonic() - t0:.1f} s; "
          f"screenshots in {shots}")
    assert not problems, "\n".join(problems)
