"""The pipeline file: its sections, validated against tables of constraints, errors with lines.

Every key of every section is a :class:`~ouroboros.sweep.Constraint` row below, the same
declarative form as the sweep file's. TOML readers give line numbers for syntax errors
only, so a problem found afterwards (an unknown key, a wrong type, a missing file) is
placed by finding its key in the text (:func:`locate`). Every problem is reported at once,
in one :class:`PipelineConfigError`.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ouroboros.errors import OuroborosError, ParameterError
from ouroboros.sweep.config import REQUIRED, Constraint, _toml

#: the folder of cached step outputs, beside the config file unless given
CACHE_FOLDER = ".ouro-pipeline"


class PipelineConfigError(ParameterError):
    """A pipeline file is invalid; every problem is listed with its key and line."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_from(low: int):
    return lambda value: _is_int(value) and value >= low


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _texts(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 0 and all(_text(v) for v in value)


def _fraction(value: Any) -> bool:
    return isinstance(value, float) and 0 < value < 1


def _table(value: Any) -> bool:
    return isinstance(value, dict)


SOURCE = (
    Constraint("path", "a CSV or Parquet file, relative to the pipeline file", _text),
    Constraint("builtin", "the name of a bundled dataset", _text),
    Constraint("holdout", "a fraction in (0, 1)", _fraction),
    Constraint("holdout_path", "a CSV or Parquet file of real rows kept aside", _text),
    Constraint("target", "a column name", _text),
    Constraint("sensitive", "a column name", _text),
    Constraint("schema", "a schema JSON file (from `ouro schema`)", _text),
    Constraint("seed", "an integer >= 0", _int_from(0), 0),
)
GENERATOR = (
    Constraint("name", "a generator name, or 'auto'", _text, REQUIRED),
    Constraint("seed", "an integer >= 0", _int_from(0), 0),
    Constraint("params", "a table of hyper-parameters", _table, {}),
    Constraint("time_budget", "a number of seconds > 0 (name = 'auto')", _positive),
    Constraint("candidates", "a list of generator names (name = 'auto')", _texts),
    Constraint(
        "guard", "'warn', 'strict' or 'off'", lambda v: v in ("warn", "strict", "off"), "warn"
    ),
    Constraint(
        "max_synthetic_share",
        "a share in [0, 1]",
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1,
        0.0,
    ),
    Constraint("max_depth", "an integer >= 0", _int_from(0)),
    Constraint("allow_synthetic", "true or false", lambda v: isinstance(v, bool), False),
)
SAMPLE = (
    Constraint("rows", "an integer >= 1 (default: as many as the training rows)", _int_from(1)),
    Constraint("seed", "an integer >= 0 (default: the generator's seed)", _int_from(0)),
    Constraint("watermark", "true or false", lambda v: isinstance(v, bool), True),
)
EVALUATE = (
    Constraint("metrics", "a non-empty list of metric names", _texts),
    Constraint("seed", "an integer >= 0", _int_from(0), 0),
)
PUBLISH = (
    Constraint("path", "a .csv, .csv.gz or .parquet file to write", _text, REQUIRED),
    Constraint("report", "an HTML file (default: beside path, .report.html)", _text),
    Constraint("model", "a model file (.ouro) to write beside the table", _text),
    Constraint(
        "catalog",
        "a store URL for the lineage catalog, or false (default: the run store's)",
        lambda v: v is False or _text(v),
    ),
)


def _corrector(value: Any) -> bool:
    """A corrector that publishes no real rows: ``importance[:γ]`` or ``rules``."""
    from ouroboros.collapse.correctors import parse

    if not _text(value) or value.split(":")[0].strip() not in PUBLISHABLE_CORRECTORS:
        return False
    try:
        parse(value)
    except OuroborosError:
        return False
    return True


#: correctors whose output holds synthetic rows only (``real:γ`` would publish real rows)
PUBLISHABLE_CORRECTORS = ("importance", "rules")
ADAPT = (
    Constraint("max_attempts", "an integer >= 1", _int_from(1), 3),
    Constraint(
        "correct", "a corrector: 'importance:STRENGTH' (e.g. 'importance:1') or 'rules'", _corrector
    ),
)
SECTIONS = {
    "source": SOURCE,
    "generator": GENERATOR,
    "sample": SAMPLE,
    "evaluate": EVALUATE,
    "gate": None,  # any metric or category name; checked by ouroboros.pipeline.gate
    "publish": PUBLISH,
    "adapt": ADAPT,
}
REQUIRED_SECTIONS = ("source", "generator", "publish")


def locate(text: str, section: str | None, key: str | None = None) -> int | None:
    """The line (from 1) of ``key`` in table ``[section]`` of TOML ``text``, or of the
    table's header when ``key`` is None; None when not found (a key given as
    ``section.key`` at the top, or in an inline table, is found too)."""
    current: str | None = None
    header = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
    for number, line in enumerate(text.splitlines(), start=1):
        match = header.match(line)
        if match:
            current = match.group(1).strip().strip('"')
            if current == (section if key is None else f"{section}.{key}"):
                return number
            continue
        head = line.split("=", 1)[0].strip() if "=" in line else ""
        names = [part.strip().strip("\"'") for part in head.split(".")] if head else []
        if not names:
            continue
        if current == section and names[0] == key:
            return number
        if current is None and len(names) >= 1 and names[0] == section:
            if key is None or (len(names) > 1 and names[1] == key):
                return number
            if key is not None and re.search(rf"[{{,]\s*{re.escape(key)}\s*=", line):
                return number
    return None


@dataclass
class _Problems:
    """Problems found so far, each placed at its line of the file when it has one."""

    text: str | None
    items: list[str] = field(default_factory=list)

    def add(self, section: str | None, key: str | None, message: str) -> None:
        line = locate(self.text, section, key) if self.text is not None else None
        if line is None and key is not None and self.text is not None:
            line = locate(self.text, section)
        name = ".".join(p for p in (section, key) if p) or "the file"
        where = f"line {line}: " if line is not None else ""
        self.items.append(f"{where}{name}: {message}")


def _check_section(
    table: dict[str, Any], constraints: tuple[Constraint, ...], section: str, problems: _Problems
) -> dict[str, Any]:
    """The values of ``[section]``, defaults filled in; each problem is added to ``problems``."""
    allowed = [c.key for c in constraints]
    for key in sorted(set(table) - set(allowed)):
        problems.add(section, key, f"unknown key; allowed: {', '.join(allowed)}")
    values: dict[str, Any] = {}
    for c in constraints:
        if c.key not in table:
            if c.default is REQUIRED:
                problems.add(section, None, f"key {c.key!r} is missing; it must be {c.allowed}")
            else:
                values[c.key] = copy.copy(c.default)
        elif c.check(table[c.key]):
            values[c.key] = table[c.key]
        else:
            problems.add(section, c.key, f"must be {c.allowed}; got {table[c.key]!r}")
    return values


@dataclass(frozen=True)
class PipelineConfig:
    """A validated pipeline file; build it with :meth:`from_toml` or :meth:`from_dict`.

    Each section is kept as a dict of its resolved values; file paths are absolute.
    ``cache`` is the folder of step outputs (``.ouro-pipeline`` beside the file).
    """

    source: dict[str, Any]
    generator: dict[str, Any]
    sample: dict[str, Any]
    evaluate: dict[str, Any]
    gate: dict[str, str]
    publish: dict[str, Any]
    adapt: dict[str, Any] | None
    cache: Path
    origin: str = "pipeline"
    text: str | None = None

    @classmethod
    def from_toml(cls, path: str | os.PathLike, cache: str | os.PathLike | None = None):
        """Read and validate a pipeline file; its relative paths are relative to its folder."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no pipeline file {str(path)!r}")
        try:
            text = path.read_text(encoding="utf-8")
        except (PermissionError, UnicodeDecodeError) as exc:
            raise PipelineConfigError(
                f"cannot read the pipeline file {str(path)!r}: {exc}"
            ) from exc
        toml = _toml()
        try:
            data = toml.loads(text)
        except toml.TOMLDecodeError as exc:
            raise PipelineConfigError(f"{path}: not valid TOML: {exc}") from exc
        return cls.from_dict(data, base=path.parent, origin=str(path), text=text, cache=cache)

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        *,
        base: str | os.PathLike = ".",
        origin: str = "pipeline",
        text: str | None = None,
        cache: str | os.PathLike | None = None,
    ) -> PipelineConfig:
        """Validate a pipeline given as a dict (the TOML structure); every problem at once."""
        if not isinstance(data, dict):
            raise PipelineConfigError(f"{origin}: a pipeline must be a table of sections")
        base = Path(base).resolve()
        problems = _Problems(text)
        for name in sorted(set(data) - set(SECTIONS)):
            problems.add(name, None, f"unknown section; allowed: {', '.join(SECTIONS)}")
        for name in REQUIRED_SECTIONS:
            if name not in data:
                problems.add(None, None, f"section [{name}] is missing")
        values: dict[str, Any] = {}
        for name, constraints in SECTIONS.items():
            if name in REQUIRED_SECTIONS and name not in data:
                values[name] = {}
                continue
            table = data.get(name, {})
            if not isinstance(table, dict):
                problems.add(None, name, f"must be a [{name}] table; got {table!r}")
                table = {}
            if constraints is None:
                values[name] = dict(table)
            else:
                values[name] = _check_section(table, constraints, name, problems)
        if isinstance(data.get("source"), dict):
            _check_source(values["source"], base, problems)
        _check_names(values, problems)
        if isinstance(data.get("publish"), dict):
            _check_publish(values["publish"], base, problems)
        if problems.items:
            listing = "\n".join(f"- {p}" for p in problems.items)
            count = len(problems.items)
            raise PipelineConfigError(f"{origin}: {count} problem(s) in the pipeline:\n{listing}")
        folder = Path(cache) if cache is not None else base / CACHE_FOLDER
        return cls(
            source=values["source"],
            generator=values["generator"],
            sample=values["sample"],
            evaluate=values["evaluate"],
            gate=values["gate"],
            publish=values["publish"],
            adapt=values["adapt"] if "adapt" in data else None,
            cache=folder.resolve(),
            origin=origin,
            text=text,
        )


def _check_source(source: dict[str, Any], base: Path, problems: _Problems) -> None:
    from ouroboros import datasets

    path, builtin = source.get("path"), source.get("builtin")
    if path is None and builtin is None:
        problems.add("source", None, "key 'path' is missing: give the table's file (or 'builtin')")
    elif path is not None and builtin is not None:
        problems.add("source", "builtin", "give either key 'path' or key 'builtin', not both")
    if builtin is not None and builtin not in datasets.names():
        problems.add(
            "source", "builtin", f"no bundled dataset {builtin!r}; bundled: {datasets.names()}"
        )
    if source.get("holdout") is not None and source.get("holdout_path") is not None:
        problems.add("source", "holdout_path", "give either 'holdout' or 'holdout_path'")
    elif source.get("holdout") is None and source.get("holdout_path") is None:
        source["holdout"] = 0.2
    for key in ("path", "holdout_path", "schema"):
        if source.get(key) is not None:
            resolved = base / source[key]
            if not resolved.is_file():
                problems.add("source", key, f"no file {str(resolved)!r}")
            source[key] = str(resolved)


def _check_names(values: dict[str, Any], problems: _Problems) -> None:
    """Generator, metric and gate names are known ones."""
    from ouroboros import metrics
    from ouroboros.pipeline.gate import parse_gate

    _check_generator(values["generator"], problems)
    for name in values["evaluate"].get("metrics") or ():
        if name not in metrics.names():
            problems.add("evaluate", "metrics", f"unknown metric {name!r}; see `ouro metrics`")
    for key, message in parse_gate(values["gate"])[1]:
        problems.add("gate", key, message)


def _check_generator(generator: dict[str, Any], problems: _Problems) -> None:
    """A named generator takes its params; ``auto`` takes a params table per candidate."""
    from ouroboros import synthesizers

    name, params = generator.get("name"), generator.get("params", {})
    if name is None:
        return
    if name != "auto":
        for key in ("time_budget", "candidates"):
            if generator.get(key) is not None:
                problems.add("generator", key, "only with name = 'auto'")
        try:
            synthesizers.create(name, **params)
        except OuroborosError as exc:
            key = "name" if name not in synthesizers.names() else "params"
            problems.add("generator", key, str(exc).splitlines()[0])
        return
    from ouroboros.pipeline.auto import candidates

    known = synthesizers.names()
    given = generator.get("candidates") or []
    for candidate in given:
        if candidate not in known:
            problems.add("generator", "candidates", f"unknown generator {candidate!r}")
    chosen = given or candidates(None)
    for candidate, table in params.items():
        if candidate not in chosen or not isinstance(table, dict):
            problems.add(
                "generator",
                "params",
                f"with name = 'auto', params is a table per candidate ({', '.join(chosen)}); "
                f"got {candidate!r} = {table!r}",
            )
            continue
        try:
            synthesizers.create(candidate, **table)
        except OuroborosError as exc:
            problems.add("generator", "params", str(exc).splitlines()[0])


def _check_publish(publish: dict[str, Any], base: Path, problems: _Problems) -> None:
    from ouroboros.io import CSV_SUFFIXES, PARQUET_SUFFIXES

    for key in ("path", "report", "model"):
        if publish.get(key) is None:
            continue
        resolved = base / publish[key]
        if not resolved.parent.is_dir():
            problems.add(
                "publish", key, f"folder {str(resolved.parent)!r} does not exist; create it first"
            )
        publish[key] = str(resolved)
    path = publish.get("path")
    if path is not None and not path.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES):
        problems.add("publish", "path", f"{path!r}: use a .csv, .csv.gz or .parquet file")
    if path is not None and publish.get("report") is None:
        stem = Path(path).name.split(".")[0]
        publish["report"] = str(Path(path).with_name(f"{stem}.report.html"))
