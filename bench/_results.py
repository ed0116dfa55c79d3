"""Write one benchmark's section of ``bench/RESULTS.md``, leaving the others alone.

Each script owns the text between ``<!-- begin NAME -->`` and ``<!-- end NAME -->``;
the file is rewritten atomically so concurrent or interrupted runs never leave
it half-written.
"""

from __future__ import annotations

import fcntl
import os
import platform
import re
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
_HEADER = (
    "# Benchmark results\n\n"
    "Each section is written by the script it names, with the command that produced it.\n"
    "Times are wall-clock medians on the machine named in the section; ratios compare\n"
    "against a peer run in the same script.\n"
)


def machine() -> str:
    """A one-line description of this machine."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_section(name: str, body: str) -> Path:
    """Replace (or append) section ``name`` of RESULTS.md with ``body``.

    A lock file serialises concurrent writers, so two benchmarks finishing together
    never drop each other's section.
    """
    with open(RESULTS.parent / ".RESULTS.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _replace_section(name, body)


def _replace_section(name: str, body: str) -> Path:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else _HEADER
    block = f"<!-- begin {name} -->\n{body.strip()}\n<!-- end {name} -->"
    pattern = re.compile(
        rf"<!-- begin {re.escape(name)} -->.*?<!-- end {re.escape(name)} -->", re.DOTALL
    )
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else f"{text.rstrip()}\n\n{block}\n"
    )
    fd, tmp = tempfile.mkstemp(dir=RESULTS.parent, prefix=".RESULTS.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600
    os.replace(tmp, RESULTS)
    return RESULTS


def markdown_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A GitHub-flavoured markdown table of ``rows``."""
    columns = columns or list(rows[0]) if rows else []
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
