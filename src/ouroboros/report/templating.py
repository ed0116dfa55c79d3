"""The reports' Jinja environment: the templates of this package, autoescaping always on."""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

import jinja2

from ouroboros import __version__
from ouroboros.report import format as fmt


@functools.cache
def environment() -> jinja2.Environment:
    """The shared environment, with the filters ``num``, ``pct`` and ``sortkey``."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ouroboros.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=fmt.number, pct=fmt.percent, sortkey=fmt.sort_key)
    env.globals.update(version=__version__, missing=fmt.MISSING)
    return env


def render(template: str, *, script: str | None = None, **context: Any) -> str:
    """Render ``template``; ``script`` names a script template to inline, the only one the
    page's Content-Security-Policy lets run (by its hash)."""
    env = environment()
    code = env.get_template(script).render() if script else ""
    digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
    return env.get_template(template).render(script=code, script_hash=digest, **context)
