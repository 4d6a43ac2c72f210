"""The course website: ``course site --out site/`` (mkdocs-material + mkdocs-jupyter, the
``site`` extra).

The home page is README; notebook pages follow its syllabus table and are rendered from
``solutions/`` *with their stored outputs* (never executed), each headed by download and Colab
links to its exercise copy and solution; ``docs/*.md`` become "Guides". MathJax (from
``jupyter-server-mathjax``), mkdocs' search and the Colab badge are served from the site itself,
and widget outputs become static snapshots, so the site works offline. Not taught in a notebook;
see README ("For course developers"); tested by tests/test_site.py and tests/test_browser.py.
"""
from __future__ import annotations

import copy
import html
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = ["SiteError", "SiteResult", "build_site", "syllabus_order", "prepare_notebook",
           "MATHJAX_CONFIG", "REPO_URL"]

REPO_URL = "https://github.com/dermalite/dermalite-course"
BRANCH = "main"
COLAB_URL = "https://colab.research.google.com/github/dermalite/dermalite-course/blob/main/"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
LOCAL_BADGE = "assets/course/colab-badge.svg"
MATHJAX_DIR = "assets/mathjax"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"

_SYLLABUS_ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*\[[^\]]*\]\((solutions/[^)]+\.ipynb)\)")
_MD_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")


class SiteError(RuntimeError):
    """The site cannot be built (missing tool, missing folder); the message says what to do."""


@dataclass
class SiteResult:
    out: Path
    pages: list[str] = field(default_factory=list)  # html files of the notebook pages, in order
    seconds: float = 0.0


# --------------------------------------------------------------------------- inputs
def syllabus_order(root: Path) -> list[Path]:
    """Solution notebooks in the order of README's syllabus table, then any others by name."""
    root = Path(root)
    listed: list[Path] = []
    readme = root / "README.md"
    if readme.exists():
        for line in readme.read_text(encoding="utf-8").splitlines():
            match = _SYLLABUS_ROW.match(line.strip())
            if match and (root / match.group(2)).exists():
                path = root / match.group(2)
                if path not in listed:
                    listed.append(path)
    rest = sorted(p for p in (root / "solutions").glob("*.ipynb") if p not in listed)
    return listed + rest


def _rewrite_link(target: str, source_dir: str, *, page_prefix: str, notebooks: set[str],
                  guides: set[str], sources: bool = False) -> str:
    """Map a link of a repository file in ``source_dir`` (README, docs/*.md, a notebook) to the
    site. ``page_prefix``: from the page back to the site root ("" or "../"). ``sources``: link
    pages by their source file (markdown pages, which mkdocs rewrites), not their html file."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
        return target
    path, _, anchor = target.partition("#")
    resolved = os.path.normpath(os.path.join(source_dir, path)).replace(os.sep, "/")
    suffix = f"#{anchor}" if anchor else ""
    name = resolved.rsplit("/", 1)[-1]
    if resolved.startswith("solutions/") and name in notebooks:
        page = name if sources else f"{name[:-len('.ipynb')]}.html"
        return f"{page_prefix}{page}{suffix}"
    if resolved.startswith("notebooks/") and name in notebooks:
        return f"{page_prefix}notebooks/{name}"
    if resolved.startswith("docs/") and name in guides:
        page = name if sources else f"{name[:-3]}.html"
        return f"{page_prefix}guides/{page}{suffix}"
    return f"{REPO_URL}/blob/{BRANCH}/{resolved}{suffix}"


def _rewrite_markdown(text: str, source_dir: str, **kwargs) -> str:
    def repl(match):
        target = match.group(2)
        if target == COLAB_BADGE:
            return match.group(1) + kwargs["page_prefix"] + LOCAL_BADGE + match.group(3)
        if target.startswith(COLAB_URL):
            return match.group(0)
        return match.group(1) + _rewrite_link(target, source_dir, **kwargs) + match.group(3)
    text = _MD_LINK.sub(repl, text)
    return text.replace(f'src="{COLAB_BADGE}"', f'src="{kwargs["page_prefix"]}{LOCAL_BADGE}"')


# --------------------------------------------------------------------------- widgets
def _control(description: object, value: object) -> str:
    return f"<li>{html.escape(str(description))}: <code>{html.escape(str(value))}</code></li>"


def _widget_snapshot(model_id: str, state: dict) -> str:
    """Static HTML for a widget output: a note, the controls' values, the stored pictures."""
    controls: list[str] = []
    pictures: list[str] = []
    texts: list[str] = []
    seen: set[str] = set()

    def walk(mid: str):
        if mid in seen or mid not in state:
            return
        seen.add(mid)
        entry = state[mid]
        name = entry.get("model_name", "")
        values = entry.get("state", {})
        hidden = (values.get("layout") or "").replace("IPY_MODEL_", "")
        if hidden in state and state[hidden].get("state", {}).get("display") == "none":
            return
        if name == "ImageModel":
            for buf in entry.get("buffers", []):
                if buf.get("path") == ["value"] and buf.get("encoding", "base64") == "base64":
                    fmt = values.get("format", "png")
                    pictures.append(f'<img alt="snapshot of the widget\'s picture" '
                                    f'src="data:image/{fmt};base64,{buf["data"]}">')
        elif name in ("HTMLModel", "HTMLMathModel", "LabelModel"):
            if values.get("value"):
                texts.append(values["value"] if name != "LabelModel"
                             else html.escape(values["value"]))
        elif name == "OutputModel":
            for out in values.get("outputs", []):
                data = out.get("data", {})
                if "image/png" in data:
                    pictures.append(f'<img alt="snapshot of the widget\'s output" '
                                    f'src="data:image/png;base64,{data["image/png"]}">')
                elif "text/html" in data:
                    texts.append("".join(data["text/html"]))
                elif out.get("output_type") == "stream":
                    texts.append(f"<pre>{html.escape(''.join(out.get('text', '')))}</pre>")
        elif "description" in values and "value" in values and name not in ("ButtonModel",):
            value = values["value"]
            options = values.get("_options_labels")
            if isinstance(value, int) and options and "index" in values:
                value = options[values["index"]] if values["index"] is not None else value
            elif options and values.get("index") is not None and not isinstance(value, str):
                value = options[values["index"]]
            controls.append(_control(values["description"], value))
        elif "index" in values and values.get("_options_labels") and "description" in values:
            index = values["index"]
            label = values["_options_labels"][index] if index is not None else "—"
            controls.append(_control(values["description"], label))
        for child in values.get("children", []) or []:
            if isinstance(child, str):
                walk(child.replace("IPY_MODEL_", ""))

    walk(model_id)
    parts = ['<div class="static-widget">',
             '<div class="static-widget-note">Interactive widget: its controls are live when '
             'you run this notebook in Jupyter or Colab. Below is a static snapshot of the '
             'state stored with the solution.</div>']
    if controls:
        parts.append("<ul>" + "".join(controls) + "</ul>")
    parts.extend(pictures)
    parts.extend(f"<div>{text}</div>" for text in texts)
    if not (controls or pictures or texts):
        parts.append("<div>(no stored state: run the notebook to see this widget)</div>")
    parts.append("</div>")
    return "\n".join(parts)


def _replace_widgets(nb) -> int:
    state = (nb.metadata.get("widgets", {}).get(WIDGET_STATE_MIME, {}) or {}).get("state", {})
    replaced = 0
    for cell in nb.cells:
        for i, out in enumerate(cell.get("outputs", [])):
            data = out.get("data", {})
            if WIDGET_MIME not in data:
                continue
            model_id = data[WIDGET_MIME].get("model_id", "")
            cell.outputs[i] = nbformat.v4.new_output(
                "display_data", data={"text/html": _widget_snapshot(model_id, state),
                                      "text/plain": "(interactive widget: static snapshot)"})
            replaced += 1
    nb.metadata.pop("widgets", None)  # nothing left for a CDN widget loader to render
    return replaced


# --------------------------------------------------------------------------- notebooks
def prepare_notebook(nb, name: str, *, notebooks: set[str], has_exercise: bool):
    """A copy of a solution notebook ready for the site (outputs kept, nothing executed)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _rewrite_markdown(cell.source, "solutions", page_prefix="",
                                            notebooks=notebooks, guides=set())
    _replace_widgets(nb)
    links = []
    if has_exercise:
        links.append(f"**Exercise copy** (the notebook to work in): [download](notebooks/{name}) "
                     f"[![Open the exercise copy in Colab]({LOCAL_BADGE})]"
                     f"({COLAB_URL}notebooks/{name})")
    links.append(f"**Solution** (this page: stored outputs, never executed for the site): "
                 f"[download](solutions/{name}) "
                 f"[![Open the solution in Colab]({LOCAL_BADGE})]({COLAB_URL}solutions/{name})")
    header = "\n".join(f"- {link}" for link in links)
    # right under the title's Colab badge when there is one, else a cell after the first one
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.split("\n")
        badge = next((i for i, line in enumerate(lines) if LOCAL_BADGE in line), None)
        if badge is not None:
            lines[badge + 1:badge + 1] = ["", header, ""]
            cell.source = "\n".join(lines)
            break
    else:
        first_md = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
        nb.cells.insert(first_md + 1, nbformat.v4.new_markdown_cell(header))
    return nb


def _mathjax_source() -> Path:
    try:
        import jupyter_server_mathjax
    except ImportError as err:
        raise SiteError("MathJax for offline pages comes from the package "
                        "jupyter-server-mathjax: pip install -e \".[site]\"") from err
    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (static / "MathJax.js").exists():
        raise SiteError(f"{static} has no MathJax.js; reinstall jupyter-server-mathjax")
    return static


def _stage(root: Path, stage: Path) -> tuple[list[dict], list[str]]:
    """Write the mkdocs sources into ``stage``; return the nav and the notebook page names."""
    ordered = syllabus_order(root)
    if not ordered:
        raise SiteError(f"{root / 'solutions'} has no notebooks")
    names = {p.name for p in ordered}
    guides_src = sorted((root / "docs").glob("*.md")) if (root / "docs").is_dir() else []
    guides = {p.name for p in guides_src}

    readme = (root / "README.md").read_text(encoding="utf-8")
    (stage / "index.md").write_text(
        _rewrite_markdown(readme, "", page_prefix="", notebooks=names, guides=guides,
                          sources=True),
        encoding="utf-8")

    nav_notebooks, pages = [], []
    for path in ordered:
        nb = nbformat.read(path, as_version=4)
        has_exercise = (root / "notebooks" / path.name).exists()
        ready = prepare_notebook(nb, path.name, notebooks=names, has_exercise=has_exercise)
        nbformat.write(ready, stage / path.name)
        title = next((c.source.splitlines()[0].lstrip("# ").strip() for c in nb.cells
                      if c.cell_type == "markdown" and c.source.strip()), path.stem)
        nav_notebooks.append({title: path.name})
        pages.append(path.stem + ".html")

    nav_guides = []
    if guides_src:
        (stage / "guides").mkdir()
        for path in guides_src:
            text = _rewrite_markdown(path.read_text(encoding="utf-8"), "docs",
                                     page_prefix="../", notebooks=names, guides=guides,
                                     sources=True)
            (stage / "guides" / path.name).write_text(text, encoding="utf-8")
            first = text.lstrip().splitlines()[0] if text.strip() else path.stem
            nav_guides.append({first.lstrip("# ").strip() or path.stem: f"guides/{path.name}"})

    assets = stage / "assets" / "course"
    assets.mkdir(parents=True)
    for extra in sorted((root / "docs" / "site").glob("*")) if (root / "docs" / "site").is_dir() \
            else []:
        if extra.is_file():
            shutil.copy2(extra, assets / extra.name)
    nav = [{"Home": "index.md"}, {"Notebooks": nav_notebooks}]
    if nav_guides:
        nav.append({"Guides": nav_guides})
    return nav, pages


def build_site(root, out, *, verbose: bool = False) -> SiteResult:
    """Build the static site of the course into ``out`` (replaced); return what was built."""
    try:
        from mkdocs.commands.build import build as mkdocs_build
        from mkdocs.config import load_config
        import mkdocs_jupyter  # noqa: F401
        import material  # noqa: F401
    except ImportError as err:
        raise SiteError(f"{err.name or err} is missing: the site needs the 'site' extra, "
                        "pip install -e \".[site]\"") from err
    root = Path(root).resolve()
    out = Path(out).resolve()
    config_file = root / "mkdocs.yml"
    if not config_file.exists():
        raise SiteError(f"{config_file} is missing")
    mathjax = _mathjax_source()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="course-site-") as tmp:
        stage = Path(tmp) / "docs"
        stage.mkdir()
        nav, pages = _stage(root, stage)
        if out.exists():
            shutil.rmtree(out)
        import logging
        logging.getLogger("mkdocs").setLevel(logging.INFO if verbose else logging.WARNING)
        cfg = load_config(config_file=str(config_file), docs_dir=str(stage), site_dir=str(out),
                          nav=nav)
        mkdocs_build(cfg)
    shutil.copytree(mathjax, out / MATHJAX_DIR)
    for folder in ("notebooks", "solutions"):
        (out / folder).mkdir(exist_ok=True)
        for nb in sorted((root / folder).glob("*.ipynb")):
            shutil.copy2(nb, out / folder / nb.name)
    (out / "site.json").write_text(json.dumps({"pages": pages}, indent=1), encoding="utf-8")
    return SiteResult(out=out, pages=pages, seconds=time.perf_counter() - start)
