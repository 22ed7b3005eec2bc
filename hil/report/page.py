"""The HTML skeleton every report shares: escaping, inline CSS, tables, verdict badges, writing.

A report is one file that opens anywhere (a CI artefact, an e-mail attachment, a bench PC with
no network): the CSS is inline, there is no JavaScript and nothing is fetched.
"""

from __future__ import annotations

import html
from pathlib import Path

CSS = """
:root { --pass: #1a7f37; --fail: #cf222e; --error: #9a3412; --skip: #6e7781; --line: #d0d7de;
        --soft: #f6f8fa; --text: #1f2328; --muted: #59636e; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--text); margin: 0 auto; padding: 16px 24px 48px; max-width: 1180px; }
h1 { font-size: 22px; margin: 8px 0 12px; }
h2 { font-size: 17px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
p, ul { margin: 6px 0; }
.muted { color: var(--muted); }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.why { color: var(--muted); }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12px; }
.badge { display: inline-block; min-width: 3.6em; padding: 1px 8px; border-radius: 10px; color: #fff;
         font-size: 12px; font-weight: 700; text-align: center; letter-spacing: .03em; }
.badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); }
.badge.error { background: var(--error); } .badge.skip, .badge.na { background: var(--skip); }
.banner { border-radius: 6px; padding: 10px 16px; margin: 8px 0 16px; color: #fff; }
.banner.pass { background: var(--pass); } .banner.fail { background: var(--fail); }
.banner.error { background: var(--error); }
.banner .verdict { font-size: 26px; font-weight: 800; letter-spacing: .05em; margin-right: 12px; }
.banner ul { margin: 6px 0 0 18px; padding: 0; }
tr.failed td { background: #ffebe9 !important; }
.counts { display: flex; gap: 10px; flex-wrap: wrap; margin: 8px 0 16px; }
.count { border: 1px solid var(--line); border-radius: 6px; padding: 6px 14px; min-width: 90px; }
.count b { display: block; font-size: 22px; }
.count.pass b { color: var(--pass); } .count.fail b { color: var(--fail); }
.count.error b { color: var(--error); } .count.skip b { color: var(--skip); }
details { border: 1px solid var(--line); border-radius: 6px; margin: 10px 0; padding: 0 12px; }
details[open] { padding-bottom: 8px; }
summary { cursor: pointer; padding: 8px 0; font-weight: 600; }
details.failed, details.error { border-color: var(--fail); }
.landing { border-top: 1px dashed var(--line); margin-top: 10px; }
figure.landing-plot { margin: 8px 0; }
figure.landing-plot svg, figure.landing-plot img { max-width: 100%; height: auto; display: block; }
.no-plot { color: var(--muted); font-style: italic; }
.message { white-space: pre-wrap; background: var(--soft); border-radius: 4px; padding: 6px 10px; }
.cols { display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-start; }
"""

# Verdicts and test outcomes share one set of colours.
_BADGE_CLASS = {"PASS": "pass", "pass": "pass", "FAIL": "fail", "ERROR": "error", "passed": "pass", "failed": "fail",
                "error": "error", "skipped": "skip", "n/a": "na"}


def esc(value) -> str:
    """Any value as HTML text (None as an empty string)."""
    return "" if value is None else html.escape(str(value))


def badge(text: str) -> str:
    return f'<span class="badge {_BADGE_CLASS.get(text, "na")}">{esc(text)}</span>'


def table(headers, rows, *, row_classes=None, numeric=()) -> str:
    """A table of already-rendered cells (each cell is HTML: escape text before passing it).

    `headers` None: no header row. `numeric`: the column indexes to right-align. `row_classes`:
    one class name per row ("" for none).
    """
    head = f"<thead><tr>{''.join(f'<th>{esc(h)}</th>' for h in headers)}</tr></thead>" if headers else ""
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(f'<td class="num">{c}</td>' if j in numeric else f"<td>{c}</td>"
                        for j, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table>{head}<tbody>{''.join(body)}</tbody></table>"


def key_value_table(pairs) -> str:
    """A two-column table of (name, value) text pairs, both escaped here."""
    return table(None, [(f"<b>{esc(k)}</b>", f'<span class="mono">{esc(v)}</span>') for k, v in pairs])


def document(title: str, body: str) -> str:
    """A whole page around `body` (HTML)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n</body></html>\n")


def write_page(path: Path, title: str, body: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document(title, body), encoding="utf-8")
    return path


def folder_link(folder: Path, page_dir: Path, text: str) -> str:
    """A link from the page to a run folder, relative (to its report.html when it has one)."""
    import os
    from urllib.parse import quote
    target = folder / "report.html" if (folder / "report.html").is_file() else folder
    try:
        href = quote(Path(os.path.relpath(target.resolve(), page_dir.resolve())).as_posix())
    except ValueError:   # another drive (Windows): no relative path exists
        href = target.resolve().as_uri()
    return f'<a href="{esc(href)}">{esc(text)}</a>'
