"""A screenshot of the example notebook as rendered: examples/multicentre.ipynb -> docs/notebook.png.

Run (never in CI; about two minutes on 2 cores, most of it the notebook's fits)::

    bash dev.sh bench notebook_screenshot            # or .venv/bin/python benchmarks/notebook_screenshot.py

Options: ``--out docs/notebook.png`` the image (pages beyond the first, if the page is taller than
``--page-height``, go to ``notebook-2.png``, ``notebook-3.png``, ...); ``--width 1200`` the browser
window's width in CSS pixels; ``--html FILE`` also keep the rendered HTML; ``--chromium PATH``.

Steps: (1) the notebook is executed by nbclient in a fresh kernel of this interpreter, as
``tests/test_notebook.py`` does (a kernel spec in a temporary folder), with matplotlib's inline
backend so that figures come out as PNG; (2) it is rendered to one HTML page, by nbconvert's
``HTMLExporter`` when nbconvert is installed, otherwise by the small renderer below (markdown cells
through markdown-it-py when present, each code cell's source, then its outputs: ``text/html`` as is,
``image/png`` inline, ``text/plain``, streams and errors as preformatted text); (3) headless
Chromium (Debian's ``chromium``: ``apt-get install -y chromium``) measures the page's height and
takes one screenshot of the whole page (``--screenshot --window-size=WIDTH,HEIGHT``); (4) the
screenshot is cut into pages no taller than ``--page-height``, each reduced to a 256-colour
palette (tables and plots stay sharp, the file stays small), and written atomically
(``bayesglmm.io.write_atomically``). Nothing is fetched from the network: every image is inline.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bayesglmm.io import write_atomically

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "multicentre.ipynb"
KERNEL = "bayesglmm-screenshot"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--force-device-scale-factor=1"]

CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; font-size: 14px; color: #1f2328;
       background: #fff; margin: 0; }
#notebook { max-width: 1120px; margin: 0 auto; padding: 16px 24px 32px; }
.cell { margin: 10px 0; }
.markdown h1 { font-size: 26px; margin: 12px 0 8px; } .markdown h2 { font-size: 20px; margin: 20px 0 6px; }
.markdown p { line-height: 1.45; margin: 6px 0; }
.markdown code, .source code { font-family: "DejaVu Sans Mono", monospace; }
.markdown code { background: #f3f4f6; padding: 0 3px; border-radius: 3px; }
.code { display: grid; grid-template-columns: 64px 1fr; column-gap: 6px; }
.prompt { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; color: #303f9f; text-align: right;
          padding-top: 6px; }
.prompt.out { color: #d84315; }
.source { background: #f7f7f7; border: 1px solid #e0e0e0; border-radius: 2px; padding: 6px 8px; margin: 0;
          font-family: "DejaVu Sans Mono", monospace; font-size: 13px; white-space: pre-wrap; }
.output { padding: 6px 0; overflow-x: auto; }
.output pre { font-family: "DejaVu Sans Mono", monospace; font-size: 12.5px; margin: 0; white-space: pre-wrap; }
.output pre.stderr { background: #fff5f5; } .output pre.error { background: #fdecea; color: #8a1c1c; }
.output img { max-width: 100%; }
/* Jupyter's look for plain pandas tables (result objects bring their own styles) */
.output table.dataframe { border-collapse: collapse; font-size: 12.5px; }
.output table.dataframe th, .output table.dataframe td { padding: 3px 8px; text-align: right; border: none; }
.output table.dataframe thead th { border-bottom: 1px solid #555; }
.output table.dataframe tbody tr:nth-child(odd) { background: #f5f5f5; }
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- (1) execute
def execute(path: Path):
    """The notebook, executed in a fresh kernel of this interpreter (as tests/test_notebook.py does)."""
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="bayesglmm-nb-") as tmp:
        spec = Path(tmp) / "kernels" / KERNEL
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "bayesglmm screenshot (this venv)", "language": "python",
            # figures as PNG: dev.sh exports MPLBACKEND=Agg, under which a figure shows as text only
            "env": {"MPLBACKEND": "module://matplotlib_inline.backend_inline"},
        }))
        old = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = str(Path(tmp))
        try:
            client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=600, allow_errors=True,
                                             resources={"metadata": {"path": str(path.parent)}})
            client.execute()
        finally:
            if old is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = old
    errors = [(c.get("id"), out.get("ename"), out.get("evalue")) for c in nb.cells if c.cell_type == "code"
              for out in c.outputs if out.get("output_type") == "error"]
    if errors:
        log(f"warning: cells raised (shown in the screenshot): {errors}")
    return nb


# ----------------------------------------------------------------------------- (2) render
def _markdown(text: str) -> str:
    try:
        from markdown_it import MarkdownIt
    except ImportError:
        return "".join(f"<p>{html.escape(par)}</p>" for par in text.split("\n\n"))
    return MarkdownIt("commonmark").enable("table").render(text)


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _output(out) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        return f'<pre class="{html.escape(out.get("name", "stdout"))}">{html.escape(_text(out.get("text")))}</pre>'
    if kind == "error":
        trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(out.get("traceback", [])))
        return f'<pre class="error">{html.escape(trace)}</pre>'
    data = out.get("data", {})
    if "text/html" in data:
        return _text(data["text/html"])  # the result objects' own HTML (bayesglmm.html), escaped there
    if "image/png" in data:
        png = _text(data["image/png"]).replace("\n", "")
        return f'<img alt="figure" src="data:image/png;base64,{png}">'
    if "text/plain" in data:
        return f"<pre>{html.escape(_text(data['text/plain']))}</pre>"
    return ""


def render_minimal(nb, title: str) -> str:
    """One HTML page from the executed notebook's cells and outputs (no nbconvert needed)."""
    parts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            parts.append(f'<div class="cell markdown">{_markdown(cell.source)}</div>')
        elif cell.cell_type == "code":
            count = cell.get("execution_count") or " "
            parts.append(f'<div class="cell code"><div class="prompt">In [{count}]:</div>'
                         f'<pre class="source"><code>{html.escape(cell.source)}</code></pre>')
            for out in cell.get("outputs", []):
                body = _output(out)
                if body:
                    prompt = f"Out[{count}]:" if out.get("output_type") == "execute_result" else ""
                    parts.append(f'<div class="prompt out">{prompt}</div><div class="output">{body}</div>')
            parts.append("</div>")
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body><div id=\"notebook\">{''.join(parts)}</div></body></html>")


def render(nb, title: str) -> tuple[str, str]:
    """(HTML, which renderer): nbconvert's when installed, else the minimal one."""
    try:
        from nbconvert import HTMLExporter
    except ImportError:
        return render_minimal(nb, title), "minimal renderer (nbconvert is not installed)"
    body, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)
    return body, "nbconvert HTMLExporter"


# ----------------------------------------------------------------------------- (3) screenshot
def chromium_path(given: str | None) -> str:
    for name in [given, "chromium", "chromium-browser", "google-chrome"]:
        if name and shutil.which(name):
            return shutil.which(name)
    sys.exit("headless Chromium is needed: apt-get install -y chromium (or pass --chromium PATH)")


def _chromium(chromium: str, profile: Path, args: list[str], timeout: int = 180) -> subprocess.CompletedProcess:
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def page_height(chromium: str, page: Path, width: int, profile: Path) -> int:
    """The rendered page's height in CSS pixels at this width (a script writes it into the dumped DOM)."""
    probe = page.with_name("measure.html")
    script = ("<script>window.addEventListener('load', () => { const h = Math.ceil(Math.max("
              "document.documentElement.scrollHeight, document.body.scrollHeight));"
              "document.body.setAttribute('data-page-height', h); });</script>")
    probe.write_text(page.read_text().replace("</body>", script + "</body>"))
    proc = _chromium(chromium, profile, [f"--window-size={width},900", "--virtual-time-budget=5000", "--dump-dom",
                                         probe.as_uri()])
    match = re.search(r'data-page-height="(\d+)"', proc.stdout)
    if not match:
        sys.exit(f"Chromium did not report the page height:\n{proc.stderr[-2000:]}")
    return int(match.group(1))


def screenshot(chromium: str, page: Path, width: int, height: int, profile: Path) -> bytes:
    shot = page.with_name("shot.png")
    proc = _chromium(chromium, profile, [f"--window-size={width},{height}", "--virtual-time-budget=5000",
                                         f"--screenshot={shot}", page.as_uri()])
    if not shot.exists():
        sys.exit(f"Chromium wrote no screenshot:\n{proc.stderr[-2000:]}")
    return shot.read_bytes()


# ----------------------------------------------------------------------------- (4) pages
def _cut(height: int, page_height: int, rows_blank) -> list[int]:
    """Where to cut a tall image: at most page_height apart, preferring a blank row near each limit."""
    cuts, top = [0], 0
    while height - top > page_height:
        limit = top + page_height
        cut = next((y for y in range(limit, max(top + page_height // 2, limit - 400), -1) if rows_blank(y)), limit)
        cuts.append(cut)
        top = cut
    return cuts + [height]


def pages(png: bytes, page_height: int) -> list[bytes]:
    """The screenshot cut into pages (at blank rows where possible), each as a palette PNG."""
    from PIL import Image, ImageChops

    image = Image.open(io.BytesIO(png)).convert("RGB")
    width, height = image.size
    gray = image.convert("L")

    def blank(y: int) -> bool:
        row = gray.crop((0, y, width, y + 1))
        return ImageChops.invert(row).getbbox() is None  # every pixel white

    cuts = _cut(height, page_height, blank)
    out = []
    for top, bottom in zip(cuts, cuts[1:]):
        part = image.crop((0, top, width, bottom)).quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                                            dither=Image.Dither.NONE)
        buffer = io.BytesIO()
        part.save(buffer, format="PNG", optimize=True)
        out.append(buffer.getvalue())
    return out


def page_paths(out: Path, n: int) -> list[Path]:
    return [out] + [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(2, n + 1)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "notebook.png")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--page-height", type=int, default=12000,
                        help="pages taller than this are cut into several images (pixels)")
    parser.add_argument("--html", type=Path, help="also keep the rendered HTML here")
    parser.add_argument("--chromium", help="the Chromium binary (default: chromium on PATH)")
    args = parser.parse_args(argv)
    chromium = chromium_path(args.chromium)

    start = time.perf_counter()
    nb = execute(args.notebook)
    log(f"executed {args.notebook.name} in {time.perf_counter() - start:.0f} s")
    page_html, renderer = render(nb, args.notebook.stem)
    log(f"rendered to HTML by the {renderer}")
    with tempfile.TemporaryDirectory(prefix="bayesglmm-shot-") as tmp:
        page = Path(tmp) / "notebook.html"
        page.write_text(page_html)
        height = page_height(chromium, page, args.width, Path(tmp) / "profile-measure")
        log(f"page: {args.width} x {height} CSS pixels")
        png = screenshot(chromium, page, args.width, height, Path(tmp) / "profile-shot")
    images = pages(png, args.page_height)
    paths = page_paths(args.out, len(images))
    outputs = dict(zip(paths, images))
    if args.html:
        outputs[args.html] = page_html
    stale = [p for p in page_paths(args.out, len(images) + 20)[len(images):] if p.exists()]
    write_atomically(outputs)
    for path in stale:  # pages of an earlier, taller screenshot
        path.unlink()
    for path, image in zip(paths, images):
        log(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ({len(image) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
