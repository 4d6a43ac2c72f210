"""The course website (course_tools.site, `course site`): built from the stored outputs.

The build itself takes about half a minute on 2 shared cores, so it is marked slow and done
once per session (the ``site_dir`` fixture, shared with tests/test_browser.py). The page checks
in a real browser are in tests/test_browser.py.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from course_tools import site

ROOT = Path(__file__).resolve().parent.parent


def _have_site_tools() -> str | None:
    for module in ("mkdocs", "material", "mkdocs_jupyter", "jupyter_server_mathjax"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install -e \".[site]\")"
    return None


_BUILT: dict[str, Path] = {}  # tests/test_browser.py imports this fixture: one build for both


@pytest.fixture(scope="session")
def site_dir(tmp_path_factory) -> Path:
    """The site, built once per test session into a temporary folder."""
    missing = _have_site_tools()
    if missing:
        pytest.skip(missing)
    if "out" not in _BUILT:
        out = tmp_path_factory.mktemp("course-site") / "site"
        result = site.build_site(ROOT, out)
        print(f"site built in {result.seconds:.1f} s")
        _BUILT["out"] = out
    return _BUILT["out"]


# ----------------------------------------------------------------- fast: no build
def test_syllabus_order_follows_readme():
    ordered = site.syllabus_order(ROOT)
    names = [p.name for p in ordered]
    assert names, "no solution notebooks found"
    assert set(names) == {p.name for p in (ROOT / "solutions").glob("*.ipynb")}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = [n for n in names if f"solutions/{n}" in readme]
    assert listed == sorted(listed, key=lambda n: readme.index(f"solutions/{n}"))
    assert names[:len(listed)] == listed


def test_links_are_rewritten_for_the_site():
    kw = dict(notebooks={"01_x.ipynb"}, guides={"GPU.md"})
    text = ("[a](solutions/01_x.ipynb) [b](notebooks/01_x.ipynb) [c](docs/GPU.md#top) "
            "[d](LICENSE) [e](https://example.org/) [f](#here) "
            f"[![Open In Colab]({site.COLAB_BADGE})]({site.COLAB_URL}solutions/01_x.ipynb)")
    html_links = site._rewrite_markdown(text, "", page_prefix="", **kw)
    assert "(01_x.html)" in html_links
    assert "(notebooks/01_x.ipynb)" in html_links
    assert "(guides/GPU.html#top)" in html_links
    assert f"({site.REPO_URL}/blob/main/LICENSE)" in html_links
    assert "(https://example.org/)" in html_links and "(#here)" in html_links
    assert site.COLAB_BADGE not in html_links and site.LOCAL_BADGE in html_links
    assert f"({site.COLAB_URL}solutions/01_x.ipynb)" in html_links
    sources = site._rewrite_markdown("[a](../solutions/01_x.ipynb) [g](GPU.md)", "docs",
                                     page_prefix="../", sources=True, **kw)
    assert "(../01_x.ipynb)" in sources and "(../guides/GPU.md)" in sources


def _widget_notebook():
    nb = nbformat.v4.new_notebook()
    png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJ"
           "RU5ErkJggg==")
    state = {
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_dd", "IPY_MODEL_img",
                                                                  "IPY_MODEL_hid"]}},
        "dd": {"model_name": "DropdownModel",
               "state": {"description": "image", "index": 1, "_options_labels": ["a", "b"]}},
        "img": {"model_name": "ImageModel", "state": {"format": "png"},
                "buffers": [{"path": ["value"], "encoding": "base64", "data": png}]},
        "hid": {"model_name": "FloatSliderModel",
                "state": {"description": "hidden", "value": 0.5, "layout": "IPY_MODEL_lay"}},
        "lay": {"model_name": "LayoutModel", "state": {"display": "none"}},
    }
    nb.metadata["widgets"] = {site.WIDGET_STATE_MIME: {"state": state}}
    cell = nbformat.v4.new_code_cell("explorer")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        site.WIDGET_MIME: {"model_id": "box", "version_major": 2, "version_minor": 0},
        "text/plain": "VBox(children=(Dropdown(...)))"})]
    nb.cells = [nbformat.v4.new_markdown_cell("# 01 · Title\n\n$$a = \\frac{1}{2}$$"), cell]
    return nb, png


def test_widget_outputs_become_a_static_snapshot():
    nb, png = _widget_notebook()
    ready = site.prepare_notebook(nb, "01_x.ipynb", notebooks={"01_x.ipynb"}, has_exercise=True)
    assert "widgets" not in ready.metadata  # no CDN widget loader on the page
    outputs = [o for c in ready.cells for o in c.get("outputs", [])]
    assert len(outputs) == 1 and site.WIDGET_MIME not in outputs[0]["data"]
    snapshot = outputs[0]["data"]["text/html"]
    assert "static-widget" in snapshot and "live when you run" in snapshot
    assert f"data:image/png;base64,{png}" in snapshot
    assert "image: <code>b</code>" in snapshot
    assert "hidden" not in snapshot  # controls hidden in the stored state stay hidden
    assert "widgets" in nb.metadata  # the original is not modified
    header = ready.cells[1].source  # no badge in the title cell: a cell of its own
    assert "notebooks/01_x.ipynb" in header and "solutions/01_x.ipynb" in header
    assert header.count(site.LOCAL_BADGE) == 2
    nb.cells[0].source += f"\n\n[![Open In Colab]({site.COLAB_BADGE})](https://x)\n\nmore"
    ready = site.prepare_notebook(nb, "01_x.ipynb", notebooks={"01_x.ipynb"}, has_exercise=False)
    title = ready.cells[0].source  # under the title's badge
    assert len(ready.cells) == 2 and title.endswith("more")
    assert "notebooks/01_x.ipynb" not in title and title.count(site.LOCAL_BADGE) == 2
    nbformat.validate(ready)


def test_cli_has_site_command():
    from course_tools import cli

    args = cli.build_parser().parse_args(["site", "--out", "somewhere"])
    assert args.func is cli.cmd_site and args.out == "somewhere"


# ----------------------------------------------------------------- slow: the built site
@pytest.mark.slow
def test_site_has_every_notebook_in_syllabus_order(site_dir):
    pages = json.loads((site_dir / "site.json").read_text())["pages"]
    assert pages == [p.stem + ".html" for p in site.syllabus_order(ROOT)]
    index = (site_dir / "index.html").read_text(encoding="utf-8")
    nav = [m for m in re.findall(r'href="(\d\d_[^"#]+\.html)"', index)]
    first_seen = list(dict.fromkeys(nav))
    assert first_seen == pages, "navigation / syllabus links are not in syllabus order"
    for page in pages:
        text = (site_dir / page).read_text(encoding="utf-8")
        stem = page[:-5]
        if (ROOT / "notebooks" / f"{stem}.ipynb").exists():
            assert f'href="notebooks/{stem}.ipynb"' in text
        assert f'href="solutions/{stem}.ipynb"' in text
        assert site.LOCAL_BADGE in text and site.COLAB_BADGE not in text
        assert "jp-OutputArea" in text  # the stored outputs are there
    for folder in ("notebooks", "solutions"):
        for nb in (ROOT / folder).glob("*.ipynb"):
            assert (site_dir / folder / nb.name).exists()
    assert (site_dir / "search" / "search_index.json").exists()
    assert (site_dir / site.MATHJAX_DIR / "MathJax.js").exists()


@pytest.mark.slow
def test_site_loads_nothing_from_the_internet(site_dir):
    """No <script src>, <link href> or <img src> points outside the site (offline use)."""
    external = re.compile(r'<(?:script|img|iframe)[^>]+src="(https?:)?//[^"]+"'
                          r'|<link[^>]+href="(https?:)?//[^"]+"[^>]*>', re.I)
    for page in site_dir.rglob("*.html"):
        if site.MATHJAX_DIR in page.as_posix():
            continue
        text = page.read_text(encoding="utf-8")
        bad = [m.group(0)[:160] for m in external.finditer(text)
               if 'rel="canonical"' not in m.group(0)]
        assert not bad, f"{page.relative_to(site_dir)} loads from the internet: {bad}"
        assert "widget-view+json" not in text, f"{page.name}: a widget output was left as is"
        assert "embed-amd.js" not in text  # the CDN widget loader
        assert "ajax/libs/mathjax" not in text  # MathJax from a CDN (mermaid's loader, which
        # runs only on pages with a mermaid diagram, is left alone: none has one)


def test_course_site_command_calls_build_site(tmp_path, monkeypatch, capsys):
    """`course site --out DIR` hands root and folder to site.build_site (the build itself is
    tested once, through the site_dir fixture)."""
    from course_tools import cli

    calls = []

    def fake_build(root, out, verbose=False):
        calls.append((Path(root), Path(out)))
        return site.SiteResult(out=Path(out), pages=["00_x.html"], seconds=1.0)

    monkeypatch.setattr(site, "build_site", fake_build)
    assert cli.main(["--root", str(ROOT), "site", "--out", str(tmp_path / "s")]) == 0
    assert calls == [(ROOT, tmp_path / "s")]
    assert "1 notebook pages" in capsys.readouterr().out

    def failing(root, out, verbose=False):
        raise site.SiteError("mkdocs is missing")

    monkeypatch.setattr(site, "build_site", failing)
    assert cli.main(["--root", str(ROOT), "site", "--out", str(tmp_path / "s")]) == 2
    assert "mkdocs is missing" in capsys.readouterr().err
