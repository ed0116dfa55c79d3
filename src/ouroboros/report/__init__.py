"""HTML rendering of an evaluation: one self-contained file that works offline.

The report is drawn from the JSON-ready dictionary of
:meth:`ouroboros.metrics.Evaluation.to_dict`, so the HTML and the JSON export
carry the same numbers. Figures are PNG data URIs, styles and the small
table-sorting script are inline, and a Content-Security-Policy forbids any
network access and any script but ours. Every string from the data goes through
Jinja's autoescaping.
"""

from ouroboros.report.html import render_html, write_html

__all__ = ["render_html", "write_html"]
