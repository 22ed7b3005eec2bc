"""Self-contained HTML reports: one page per run (report.html in its folder), one per suite.

    write_run_report(result, record, out_dir)      -> out_dir/report.html
    write_suite_report(entries, path, provenance)  -> path
    package_provenance()                           -> version, git revision, Python, date

Modules, one concept each: page (skeleton, CSS, escaping, tables), figure (the decimated landing
plot), landing (a landing's banner, criteria, events, timing), provenance, run_page, suite_page.
"""

from hil.report.provenance import package_provenance
from hil.report.run_page import REPORT_FILE, write_run_report
from hil.report.suite_page import write_suite_report

__all__ = ["REPORT_FILE", "package_provenance", "write_run_report", "write_suite_report"]
