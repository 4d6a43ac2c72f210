"""The course in a real browser: headless Chromium, network off.

1. Every page of the built site (``course site``), served from 127.0.0.1, with external network
   disabled in the browser: no equation left as raw TeX, every image loaded, every link inside
   the site answered, no error in the console; search finds a notebook offline.
2. JupyterLab on 127.0.0.1 opens the exercise copy of notebook 01, runs all cells (smoke
   profile), and the augmentation explorer is live: ipywidgets controls, and changing a
   control changes the picture.

Needs Debian's ``chromium`` and ``chromium-driver`` (CI installs them) and ``selenium`` (the
``site`` extra); skipped with the reason otherwise. Screenshots of failures go to
``$COURSE_RUNS_DIR/browser-screenshots`` (default ``runs/browser-screenshots``).
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from test_site import ROOT, site_dir  # noqa: F401  (the session fixture: one build)

pytestmark = pytest.mark.slow

SCREENSHOTS = Path(os.environ.get("COURSE_RUNS_DIR") or ROOT / "runs") / "browser-screenshots"
NOTEBOOK_01 = "01_data_and_augmentation.ipynb"
RUN_ALL_TIMEOUT = 180  # notebook 01, smoke profile: ~40 s alone, more on shared CPUs

# Raw TeX that MathJax should have turned into math (checked outside code, pre and scripts).
RAW_TEX = re.compile(r"\$\$|\\(?:frac|sum|prod|sqrt|left|right|begin|end|alpha|beta|gamma|"
                     r"lambda|sigma|mathrm|mathbf|hat|cdot|log|operatorname|text|in|le|ge|"
                     r"times|over)\b")


def _browser_tools():
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None, "selenium is not installed (pip install -e \".[site]\")"
    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                     if shutil.which(n)), None)
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if not driver and os.environ.get("CHROMEWEBDRIVER"):  # GitHub's Ubuntu runner images
        candidate = Path(os.environ["CHROMEWEBDRIVER"]) / "chromedriver"
        driver = str(candidate) if candidate.exists() else None
    if not chromium or not driver:
        return None, ("chromium / chromedriver not found (Debian: apt-get install -y "
                      "chromium chromium-driver); CI installs them")
    return (chromium, driver), None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def browser(request):
    tools, reason = _browser_tools()
    if tools is None:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = tools
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-default-apps",
                # network off: no name but 127.0.0.1 resolves, and everything else goes to a
                # proxy that does not exist
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                "--proxy-server=http://127.0.0.1:9"):  # (loopback always bypasses it)
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def _screenshot(driver, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".png")
    with contextlib.suppress(Exception):
        driver.save_screenshot(str(path))
    return path


# ------------------------------------------------------------------------- the site
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served_site(site_dir):  # noqa: F811
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", site_dir
    server.shutdown()
    server.server_close()


_PAGE_PROBE = r"""
const skip = 'pre, code, script, style, textarea, .MathJax, .MathJax_Display, .MathJax_Preview, '
           + '.MathJax_CHTML, .MathJax_SVG, mjx-container, .highlight, .highlight-ipynb';
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const texts = [];
let node;
while ((node = walker.nextNode())) {
  const parent = node.parentElement;
  if (!parent || parent.closest(skip)) continue;
  if (parent.closest('[hidden]') || parent.offsetParent === null) continue;
  if (node.textContent.trim()) texts.push(node.textContent);
}
const images = Array.from(document.images).map(img => ({
  src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0}));
const links = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
return {texts: texts, images: images, links: links,
        mathjax: !!(window.MathJax && window.MathJax.Hub)};
"""

_IMAGES_DONE = r"""
document.querySelectorAll('img[loading="lazy"]').forEach(img => img.loading = 'eager');
return Array.from(document.images).every(img => img.complete);
"""

_MATHJAX_WANTED = "return !!document.querySelector('script[src*=\"MathJax.js\"]');"
# MathJax 2 is done when it has started up and its queue is empty (checked twice, apart)
_MATHJAX_DONE = r"""
const mj = window.MathJax;
return !!(mj && mj.isReady && mj.Hub && mj.Hub.queue && mj.Hub.queue.pending === 0
          && !mj.Hub.queue.running && !document.querySelector('.MathJax_Processing'));
"""


def _settle(driver, page: str) -> list[str]:
    """Wait for the page's images and MathJax; return what did not settle."""
    from selenium.webdriver.support.ui import WebDriverWait

    problems = []
    try:
        WebDriverWait(driver, 30, poll_frequency=0.25).until(
            lambda d: d.execute_script(_IMAGES_DONE))
    except Exception:
        problems.append("images still loading after 30 s")
    if driver.execute_script(_MATHJAX_WANTED):
        try:
            WebDriverWait(driver, 60, poll_frequency=0.25).until(
                lambda d: d.execute_script(_MATHJAX_DONE))
            time.sleep(0.5)
            WebDriverWait(driver, 60, poll_frequency=0.25).until(
                lambda d: d.execute_script(_MATHJAX_DONE))
        except Exception:
            problems.append("MathJax did not finish typesetting in 60 s")
    return problems


def _site_pages(site_root: Path) -> list[str]:
    pages = ["index.html"]
    pages += json.loads((site_root / "site.json").read_text())["pages"]
    pages += sorted(p.relative_to(site_root).as_posix()
                    for p in site_root.rglob("*.html")
                    if not p.relative_to(site_root).as_posix().startswith(("assets/",))
                    and p.name != "404.html" and p.relative_to(site_root).as_posix() not in pages)
    return pages


def _link_ok(url: str, cache: dict) -> bool:
    url = url.split("#", 1)[0]
    if url not in cache:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                cache[url] = response.status == 200
        except (urllib.error.URLError, OSError):
            cache[url] = False
    return cache[url]


def test_site_pages_offline(browser, served_site):
    base, site_root = served_site
    pages = _site_pages(site_root)
    assert len(pages) >= 10, pages
    problems: list[str] = []
    checked_links: dict = {}
    timings = {}
    for page in pages:
        start = time.perf_counter()
        browser.get(base + page)
        page_problems = _settle(browser, page)
        result = browser.execute_script(_PAGE_PROBE)
        text = "\n".join(result["texts"])
        for match in RAW_TEX.finditer(text):
            around = text[max(0, match.start() - 40): match.end() + 40].replace("\n", " ")
            page_problems.append(f"raw TeX {match.group(0)!r} in: …{around}…")
        page_problems += [f"image not loaded: {img['src'][:120]}"
                          for img in result["images"] if not img["ok"]]
        for link in result["links"]:
            if link.startswith(base) and not _link_ok(link, checked_links):
                page_problems.append(f"broken link: {link}")
        for entry in browser.get_log("browser"):
            if entry["level"] == "SEVERE":
                page_problems.append(f"console error: {entry['message'][:300]}")
        if page[:2].isdigit() and not result["mathjax"]:
            page_problems.append("MathJax did not load")
        if page_problems:
            shot = _screenshot(browser, f"site-{page}")
            problems += [f"{page}: {p}" for p in page_problems] + [f"{page}: screenshot {shot}"]
        timings[page] = round(time.perf_counter() - start, 1)
    print("seconds per page:", timings)
    assert not problems, "\n".join(problems)


def test_site_search_works_offline(browser, served_site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, _ = served_site
    browser.get(base + "index.html")
    search = WebDriverWait(browser, 30).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "input.md-search__input"))
    browser.execute_script("document.querySelector('label.md-search__icon, "
                           "label[for=__search]')?.click()")
    search.send_keys("focal loss")
    try:
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(
            By.CSS_SELECTOR, ".md-search-result__item a[href*='05_focal_loss']"))
    except Exception:
        shot = _screenshot(browser, "site-search")
        pytest.fail(f"search found no result for 'focal loss' (screenshot {shot}); console: "
                    f"{browser.get_log('browser')}")
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


# ------------------------------------------------------------------------- JupyterLab
@pytest.fixture
def jupyterlab(tmp_path):
    tools, reason = _browser_tools()
    if tools is None:
        pytest.skip(reason)
    work = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", work)  # a copy: the repo's exercise copies stay clean
    settings = tmp_path / "lab-settings"
    tracker = settings / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    # every cell in the DOM (no virtual scrolling), so that all outputs can be inspected
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    news = settings / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = _free_port(), "dermalite-browser-test"
    env = dict(os.environ, COURSE_PROFILE="smoke",
               COURSE_RUNS_DIR=str(tmp_path / "runs"),
               JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "lab-workspaces"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"))
    log = open(tmp_path / "jupyterlab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--allow-root",
         "--ServerApp.port_retries=0", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.disable_check_xsrf=False"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
            break
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    else:
        proc.terminate()
        pytest.fail("JupyterLab did not start in 120 s: "
                    + (tmp_path / "jupyterlab.log").read_text()[-3000:])
    if proc.poll() is not None:
        pytest.fail(f"JupyterLab exited: {(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
    yield base, token, tmp_path / "jupyterlab.log"
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


_NOTEBOOK_STATE = r"""
const app = window.jupyterapp;
if (!app) return {ready: false, why: 'no window.jupyterapp'};
const panel = app.shell.currentWidget;
if (!panel || !panel.content || !panel.sessionContext) return {ready: false, why: 'no notebook'};
const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
const cells = [];
for (const cell of panel.content.model.cells) {
  if (cell.type !== 'code') continue;
  const outputs = cell.outputs.toJSON();
  cells.push({count: cell.executionCount,
              errors: outputs.filter(o => o.output_type === 'error')
                             .map(o => o.ename + ': ' + o.evalue)});
}
return {ready: true, status: kernel ? kernel.status : 'none', cells: cells,
        busy: document.querySelectorAll('.jp-InputPrompt').length &&
              Array.from(document.querySelectorAll('.jp-InputPrompt'))
                   .some(p => p.textContent.includes('*'))};
"""


def test_jupyterlab_runs_notebook_01_with_live_explorer(browser, jupyterlab):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    base, token, log = jupyterlab
    browser.set_page_load_timeout(120)
    browser.get(f"{base}/lab/tree/{NOTEBOOK_01}?token={token}")

    def state():
        return browser.execute_script(_NOTEBOOK_STATE)

    def fail(message):
        shot = _screenshot(browser, "jupyterlab-01")
        pytest.fail(f"{message} (screenshot {shot}; server log {log})")

    try:
        WebDriverWait(browser, 120, poll_frequency=1).until(
            lambda d: (s := state())["ready"] and s["status"] == "idle")
    except Exception:
        fail(f"the notebook or its kernel did not become ready: {state()}")

    start = time.perf_counter()
    browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
    time.sleep(3)
    try:
        WebDriverWait(browser, RUN_ALL_TIMEOUT, poll_frequency=1).until(
            lambda d: (s := state())["status"] == "idle" and not s["busy"]
            and all(c["count"] for c in s["cells"]))
    except Exception:
        fail(f"Run All did not finish in {RUN_ALL_TIMEOUT} s: {state()}")
    print(f"notebook 01 ran in {time.perf_counter() - start:.1f} s in JupyterLab")

    final = state()
    errors = [e for c in final["cells"] for e in c["errors"]]
    if errors:
        fail(f"cells show errors: {errors}")
    dom_errors = browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output[data-mime-type="
                                                        "'application/vnd.jupyter.error']")
    if dom_errors:
        fail(f"an error output is displayed: {dom_errors[0].text[:500]}")

    # the augmentation explorer: live controls, not a text repr
    try:
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(
            By.CSS_SELECTOR, ".jp-OutputArea-output .widget-dropdown select"))
    except Exception:
        fail("the augmentation explorer did not render as ipywidgets controls")
    outputs_text = " ".join(e.text for e in browser.find_elements(
        By.CSS_SELECTOR, ".jp-OutputArea-output"))
    assert "VBox(children=" not in outputs_text, "a widget is shown as its text repr"
    box = browser.find_element(By.XPATH, "//div[contains(@class,'jp-OutputArea-output')]"
                                         "[.//div[contains(@class,'widget-dropdown')]"
                                         "//label[normalize-space()='image']]")
    assert box.find_elements(By.CSS_SELECTOR, ".widget-slider, .widget-hslider"), \
        "the explorer has no slider"
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)

    def picture():
        images = box.find_elements(By.CSS_SELECTOR, ".widget-image, img")
        return images[0].get_attribute("src") if images else None

    before = picture()
    if not before:
        fail("the explorer shows no picture")

    def dropdown(label):
        return Select(box.find_element(
            By.XPATH, f".//div[contains(@class,'widget-dropdown')][.//label[normalize-space()="
                      f"'{label}']]//select"))

    image_menu = dropdown("image")
    image_menu.select_by_index(1 if image_menu.first_selected_option.get_attribute("index")
                               == "0" else 0)
    try:
        WebDriverWait(browser, 60).until(lambda d: picture() != before)
    except Exception:
        fail("changing the image dropdown did not change the picture")

    # a slider: brightness uses one; move it with the keyboard
    dropdown("operation").select_by_visible_text("brightness")
    time.sleep(1)
    try:
        WebDriverWait(browser, 60).until(lambda d: any(
            s.is_displayed() for s in box.find_elements(By.CSS_SELECTOR, ".widget-slider")))
    except Exception:
        fail("no slider became visible for the brightness op")
    time.sleep(2)  # let the redraw for the op change land
    before = picture()
    slider = next(s for s in box.find_elements(By.CSS_SELECTOR, ".widget-slider")
                  if s.is_displayed())
    handle = slider.find_element(By.CSS_SELECTOR, ".noUi-handle, [role='slider']")
    handle.click()
    for _ in range(4):
        handle.send_keys(Keys.ARROW_RIGHT)
    try:
        WebDriverWait(browser, 60).until(lambda d: picture() != before)
    except Exception:
        fail("moving the slider did not change the picture")
