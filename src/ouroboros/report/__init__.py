"""Every HTML report and figure of ouroboros: single files that work offline.

Three reports (an evaluation, a collapse-lab result, a comparison of stored runs) share
one base template and style sheet, one figure helper and palette
(:mod:`ouroboros.report.figures`) and one number formatter
(:mod:`ouroboros.report.format`). Figures are PNG data URIs, styles and the one small
script are inline, and a Content-Security-Policy forbids any network access and any
script but ours. Every string from the data goes through Jinja's autoescaping.

The package renders plain data (dictionaries, frames, objects read duck-typed) and
imports nothing of metrics, collapse, store or synthesizers.
"""

from ouroboros.report.collapse import render_collapse, write_collapse
from ouroboros.report.compare import render_compare, write_compare
from ouroboros.report.evaluation import render_evaluation, write_evaluation
from ouroboros.report.format import MISSING, number

__all__ = [
    "MISSING",
    "number",
    "render_collapse",
    "render_compare",
    "render_evaluation",
    "write_collapse",
    "write_compare",
    "write_evaluation",
]
