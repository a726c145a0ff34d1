"""The local HTML report: one part per section on disk, one page rebuilt from every part.

Publishing a section writes its figures (report/figures/) and its part
(report/sections/<id>.json: title, figure paths, sentences, facts), then
regenerates report/index.html from all parts present, so sections can be built
one at a time, in any order, and rebuilt. Every file is written atomically and
figures are referenced by paths relative to the page.
"""
import html
import json
import os
from pathlib import Path

from mlp.files import save_atomically

from .findings import fmt

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MLP report</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; line-height: 1.45; color: #222; }}
section {{ border-top: 1px solid #ccc; margin-top: 2em; }}
figure {{ display: inline-block; margin: 0.5em; vertical-align: top; }}
img {{ max-width: 100%; border: 1px solid #eee; }}
nav a {{ margin-right: 0.8em; }}
p.question {{ color: #555; font-style: italic; }}
ul.details {{ font-size: 0.9em; color: #444; }}
</style></head>
<body>
<h1>MLP on MNIST and Fashion-MNIST: the report</h1>
<p>Each section answers its question in a paragraph, with the evidence in full below it. Every number is read
from the run store (or computed from the images); each section is rebuilt with <code>python -m reports ID</code>.</p>
<nav>{nav}</nav>
{sections}
</body></html>
"""


def _sort_key(section_id):
    return tuple(int(part) for part in section_id.split("."))


def _write_text(path, text):
    save_atomically(path, lambda f: f.write(text.encode()))


def write_section(section, out, store):
    """Write the section's figures and its part, naming the ``store`` it was built from (relative to ``out``
    when that is shorter to say), then the page; returns the figure paths."""
    out = Path(out)
    paths = []
    for stem, figure in section.drawing.figures.items():
        path = out / "figures" / f"{section.id}_{stem}.png"
        save_atomically(path, lambda f, figure=figure: figure.savefig(f, format="png", dpi=110))
        paths.append(path)
    for stale in set((out / "figures").glob(f"{section.id}_*.png")) - set(paths):  # drawn by an earlier build
        stale.unlink()
    part = {"id": section.id, "title": section.title, "question": section.question, "store": _relative(store, out),
            "missing": section.missing,
            "figures": [p.relative_to(out).as_posix() for p in paths],
            "answer": section.findings.of_kind("answer"), "details": section.findings.of_kind("detail"),
            "tables": [name for name, rows in section.drawing.tables.items() if rows],
            "series": list(section.drawing.series),
            "sentences": section.findings.sentences,
            "facts": {k: fmt(v) for k, v in section.findings.facts.items()}}
    _write_text(out / "sections" / f"{section.id}.json", json.dumps(part, indent=2))
    write_page(out)
    return paths


def _relative(path, folder):
    relative = os.path.relpath(path, folder)
    return relative if len(relative) < len(str(path)) else str(path)


def part_store(part, out):
    """The store a section part was built from, as a path from here (None for parts that do not say)."""
    return None if part.get("store") is None else Path(out, part["store"]).resolve()


def read_parts(out):
    """Every section part in ``out``, in section order."""
    return sorted((json.loads(p.read_text()) for p in (Path(out) / "sections").glob("*.json")),
                  key=lambda part: _sort_key(part["id"]))


def write_page(out):
    """index.html from every section part in ``out``, in section order."""
    out = Path(out)
    parts = read_parts(out)
    nav = " ".join(f'<a href="#s{p["id"]}">{p["id"]}</a>' for p in parts)
    blocks = []
    for p in parts:
        answer = " ".join(html.escape(s) for s in p["answer"]) if not p.get("missing") else \
            f'<em>Not built: {html.escape(p["missing"])}</em>'
        details = "".join(f"<li>{html.escape(s)}</li>" for s in p["details"])
        images = "".join(f'<figure><img src="{html.escape(f)}" alt="{html.escape(Path(f).stem)}"></figure>'
                         for f in p["figures"])
        blocks.append(f'<section id="s{p["id"]}"><h2>{p["id"]} {html.escape(p["title"])}</h2>'
                      f'<p class="question">{html.escape(p["question"])}</p><p>{answer}</p>'
                      f'<ul class="details">{details}</ul>{images}</section>')
    _write_text(out / "index.html", PAGE.format(nav=nav, sections="\n".join(blocks)))
    return out / "index.html"
