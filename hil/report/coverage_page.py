"""The coverage page: line and branch figures per concept, file and function, and the source
lines no landing reached (with the branches not taken), on one self-contained page.

Each file shows its unreached lines and the lines with a branch not taken, with two lines of
context around each, rather than the whole source: the page opens on what the landings missed.
"""

from __future__ import annotations

from pathlib import Path

from hil.coverage.model import percent_text
from hil.report.page import esc, key_value_table, table, write_page

_LEGEND = ('<p class="muted">Red: a line no landing reached. Yellow: a reached line with a branch not '
           "taken. Counts are executions over every landing.</p>")
CONTEXT = 2           # source lines shown around an unreached line
CSS = """
pre.src { font: 12px/1.35 ui-monospace, "DejaVu Sans Mono", Menlo, monospace; margin: 6px 0;
          border: 1px solid var(--line); border-radius: 4px; overflow-x: auto; }
pre.src span { display: block; padding: 0 8px; white-space: pre; }
pre.src .no { background: #ffebe9; } pre.src .part { background: #fff8c5; }
pre.src .gap { color: var(--muted); background: var(--soft); }
"""


def write_coverage_page(summary: dict, path: Path) -> Path:
    totals = summary["totals"]
    title = (f"coverage of {summary['subject']}: lines {percent_text(totals['lines']).strip()}, "
             f"branches {percent_text(totals['branches']).strip()}")
    facts = [("subject", summary["subject"]), ("tool", summary["tool"]), ("rig", summary.get("rig", "")),
             ("landings", summary.get("landings", "")), ("device starts", summary.get("device_starts", "")),
             ("lines", percent_text(totals["lines"])), ("branches", percent_text(totals["branches"]))]
    if summary.get("note"):
        facts.append(("note", summary["note"]))
    sections = [f"<style>{CSS}</style>", f"<h1>Coverage of {esc(summary['subject'])}</h1>", key_value_table(facts),
                "<h2>By concept</h2>", _concepts(summary), "<h2>By file</h2>", _files(summary),
                "<h2>Unreached lines</h2>",
                _LEGEND]
    sections += [_file_section(name, entry) for name, entry in summary["files"].items()]
    return write_page(path, title, "\n".join(sections))


def _concepts(summary: dict) -> str:
    rows = [(esc(name), esc(percent_text(c["lines"])), esc(percent_text(c["branches"])),
             esc(", ".join(f.split(":", 1)[1] for f in c["functions"])))
            for name, c in summary["concepts"].items()]
    return table(["concept", "lines", "branches", "functions"], rows, numeric=(1, 2))


def _files(summary: dict) -> str:
    rows = [(f'<a href="#{_anchor(name)}">{esc(name)}</a>', esc(percent_text(e["lines"])),
             esc(percent_text(e["branches"])), esc(len(e["unreached_lines"])), esc(len(e["branches_not_taken"])))
            for name, e in summary["files"].items()]
    totals = summary["totals"]
    rows.append(("<b>total</b>", esc(percent_text(totals["lines"])), esc(percent_text(totals["branches"])), "", ""))
    return table(["file", "lines", "branches", "unreached lines", "branches not taken"], rows, numeric=(1, 2, 3, 4))


def _anchor(name: str) -> str:
    return "file-" + "".join(ch if ch.isalnum() else "-" for ch in name)


def _file_section(name: str, entry: dict) -> str:
    functions = [(esc(fn["name"] or "(module level)"), esc(fn["start_line"]), esc("" if fn["calls"] is None else fn["calls"]),
                  esc(percent_text(fn["lines"])), esc(percent_text(fn["branches"])))
                 for fn in entry["functions"]]
    missed = len(entry["unreached_lines"])
    is_open = " open" if missed or entry["branches_not_taken"] else ""
    head = (f"{esc(name)} <span class=\"muted\">lines {esc(percent_text(entry['lines']))}, branches "
            f"{esc(percent_text(entry['branches']))}</span>")
    return (f'<details id="{_anchor(name)}"{is_open}><summary>{head}</summary>'
            + table(["function", "line", "calls", "lines", "branches"], functions, numeric=(1, 2, 3, 4))
            + _listing(entry) + "</details>")


def _listing(entry: dict) -> str:
    """The unreached lines and partly taken branches, each with CONTEXT lines around it."""
    counts = {int(n): c for n, c in entry["line_counts"].items()}
    partial: dict[int, int] = {}
    for branch in entry["branches_not_taken"]:
        partial[branch["line"]] = partial.get(branch["line"], 0) + 1
    marked = sorted(set(entry["unreached_lines"]) | set(partial))
    if not marked:
        return '<p class="muted">Every line and branch was reached.</p>'
    try:
        source = Path(entry["source"]).read_text(errors="replace").splitlines()
    except OSError:
        source = []
    shown = sorted({n for m in marked for n in range(m - CONTEXT, m + CONTEXT + 1) if 1 <= n <= max(len(source), m)})
    out, previous = [], None
    for n in shown:
        if previous is not None and n != previous + 1:
            out.append('<span class="gap">  ...</span>')
        previous = n
        text = source[n - 1] if n <= len(source) else ""
        count = counts.get(n)
        css = "no" if count == 0 else ("part" if n in partial else "")
        note = f"  [{partial[n]} branch{'es' if partial[n] != 1 else ''} not taken]" if n in partial and count else ""
        shown_count = "" if count is None else ("#####" if count == 0 else str(count))
        out.append(f'<span class="{css}">{n:5d} {shown_count:>7} | {esc(text)}{esc(note)}</span>')
    return f'<pre class="src">{"".join(out)}</pre>'
