"""Run a pipeline, step by step, each from its cache entry when its key is already there.

A step's key hashes its config slice and the content hashes of the files it reads, so
the same config does no work, a changed generator refits without re-reading the source,
and a run killed at any step resumes where it stopped: finished steps are committed
entries, an unfinished one left nothing but a temporary folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ouroboros.io import atomic_write_bytes, atomic_write_text
from ouroboros.pipeline.cache import Cache, Entry, file_hash, key_of
from ouroboros.pipeline.config import PipelineConfig
from ouroboros.pipeline.steps import (
    STEPS,
    Context,
    Step,
    fingerprint,
    publish_table,
    source_files,
    steps_for,
)

#: exit code of ``ouro pipeline run`` when the gate fails (errors stay 1)
GATE_FAILED = 3
#: what the last run's attempts were and published, in the cache folder (for ``status``)
LAST_RUN = "last-run.json"


@dataclass
class StepOutcome:
    """What one step did: ``ran``, ``cached``, ``recomputed`` (its entry was corrupted),
    ``blocked`` (publish, after a failed gate) or ``pending`` (status only)."""

    step: str
    status: str
    key: str | None = None
    seconds: float | None = None
    note: str = ""


@dataclass
class PipelineResult:
    """The outcome of :func:`run`: each step, the gate, what was published and the report."""

    steps: list[StepOutcome]
    gate: dict[str, Any]
    report: Path
    published: Path | None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.gate.get("passed"))

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else GATE_FAILED


def load_config(
    config: PipelineConfig | str | os.PathLike | dict, cache: str | os.PathLike | None = None
) -> PipelineConfig:
    """A :class:`PipelineConfig` from itself, a TOML path or a dict (paths relative to the cwd)."""
    if isinstance(config, PipelineConfig):
        return config
    if isinstance(config, dict):
        return PipelineConfig.from_dict(config, cache=cache)
    return PipelineConfig.from_toml(config, cache=cache)


class _Runner:
    """The steps of one config against one cache, each looked up, verified or built."""

    def __init__(self, config: PipelineConfig, say: Callable[[str], None]):
        self.config = config
        self.cache = Cache(config.cache)
        self.say = say
        self.entries: dict[str, Entry] = {}
        self.memo_path = self.cache.root / "fingerprints.json"

    def external_inputs(self) -> dict[str, str]:
        try:
            memo = json.loads(self.memo_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            memo = {}
        inputs = {
            role: fingerprint(path, memo)
            for role, path in source_files(self.config).items()
            if path is not None
        }
        if self.cache.root.is_dir():
            atomic_write_text(self.memo_path, json.dumps(memo, indent=1))
        return inputs

    def key(self, step: Step, external: dict[str, str]) -> str | None:
        """The step's key, or None when a file it reads has no entry yet."""
        inputs: dict[str, str] = {}
        for upstream, name in step.reads:
            entry = self.entries.get(upstream)
            if entry is None:
                return None
            inputs[f"{upstream}/{name}"] = entry.hash(name)
        if step.name == "source":
            inputs.update({k: v for k, v in external.items() if k != "schema"})
        if step.name == "schema" and "schema" in external:
            inputs["schema"] = external["schema"]
        return key_of(step.name, step.config(self.config), inputs)

    def step(self, step: Step, external: dict[str, str]) -> StepOutcome:
        key = self.key(step, external)
        entry, problem = self.cache.lookup(step.name, key)
        if entry is not None:
            self.entries[step.name] = entry
            return StepOutcome(step.name, "cached", key, entry.meta.get("seconds"), "no work")
        if problem is not None:
            self.say(f"{step.name}: cache entry {key[:12]} is corrupted ({problem}); recomputing")
        context = Context(self.config, self.entries, self.say)
        with self.cache.build(step.name, key) as (folder, meta):
            step.make(context, folder, meta)
        entry = self.cache.peek(step.name, key)
        self.entries[step.name] = entry
        status = "ran" if problem is None else "recomputed"
        note = "" if problem is None else f"cache entry was corrupted: {problem}"
        return StepOutcome(step.name, status, key, entry.meta.get("seconds"), note)


def _copy_if_changed(source: Path, target: Path) -> None:
    if not target.is_file() or file_hash(target) != file_hash(source):
        atomic_write_bytes(target, source.read_bytes())


def _publish_key(config: PipelineConfig, entries: dict[str, Entry]) -> str:
    return key_of(
        "publish",
        {k: config.publish.get(k) for k in ("path", "model", "catalog")},
        {"sample": entries["sample"].hash("synthetic.parquet")},
    )


def _publish(runner: _Runner, external: dict[str, str]) -> StepOutcome:
    """Write the table unless the published file already holds these bytes."""
    config, entries = runner.config, runner.entries
    key = _publish_key(config, entries)
    recorded = runner.cache.peek("publish", key)
    target = Path(config.publish["path"])
    if recorded is not None:
        if _intact(recorded):
            return StepOutcome("publish", "cached", key, 0.0, f"{target} is up to date")
        runner.say(f"publish: {target} (or its sidecar or model) is missing or changed; again")
    with runner.cache.build("publish", key) as (_, meta):
        runner.say(f"publishing {target}")
        written = publish_table(entries, config)
        meta["published"] = {str(path): file_hash(path) for path in written}
        meta["path"] = str(target)
    return StepOutcome("publish", "ran", key, None, f"wrote {target}")


def _intact(recorded: Entry) -> bool:
    """Every file a publish wrote is still there with the bytes it wrote."""
    published = recorded.meta.get("published")
    if not isinstance(published, dict) or not published:
        return False
    return all(Path(p).is_file() and file_hash(p) == h for p, h in published.items())


def run(
    config: PipelineConfig | str | os.PathLike | dict,
    *,
    cache: str | os.PathLike | None = None,
    say: Callable[[str], None] | None = None,
    on_step: Callable[[StepOutcome], None] | None = None,
) -> PipelineResult:
    """Run source → schema → fit → sample → evaluate → gate → publish.

    ``config``: a :class:`PipelineConfig`, the path of a TOML file or its dict. Steps whose
    key is cached are not run. The HTML report is written whatever the gate says; the
    table is published only when every gate threshold holds (see
    :attr:`PipelineResult.passed`, :attr:`PipelineResult.exit_code`). ``say`` receives
    progress lines, ``on_step`` each step's outcome as it ends.
    """
    settings = load_config(config, cache)
    say = say or (lambda _line: None)
    runner = _Runner(settings, say)
    outcomes: list[StepOutcome] = []

    def done(outcome: StepOutcome) -> None:
        outcomes.append(outcome)
        if on_step is not None:
            on_step(outcome)

    with runner.cache.lock():
        external = runner.external_inputs()
        for step in steps_for(settings, STEPS):
            done(runner.step(step, external))
        attempts = [_attempt(1, runner)]
        if not attempts[0]["passed"] and settings.adapt is not None:
            _adapt(runner, external, attempts, done)
        gate = _gate(runner)
        report = Path(settings.publish["report"])
        if len(attempts) > 1:
            _write_report(runner, attempts, report)
        else:
            _copy_if_changed(runner.entries["gate"].path("report.html"), report)
        published = None
        if gate["passed"]:
            done(_publish(runner, external))
            published = Path(settings.publish["path"])
        else:
            done(StepOutcome("publish", "blocked", None, None, "the gate failed"))
        last = {"attempts": attempts, "published": None if published is None else str(published)}
        atomic_write_text(runner.cache.root / LAST_RUN, json.dumps(last, indent=2, default=str))
    return PipelineResult(outcomes, gate, report, published, attempts)


def _gate(runner: _Runner) -> dict[str, Any]:
    return json.loads(runner.entries["gate"].path("gate.json").read_text("utf-8"))


def _attempt(number: int, runner: _Runner) -> dict[str, Any]:
    gate = _gate(runner)
    correct = runner.entries["sample"].meta.get("correction")
    return {
        "attempt": number,
        "generator": runner.entries["fit"].meta["generator"],
        "correction": None if correct is None else correct["corrector"],
        "passed": gate["passed"],
        "failed": gate["failed"],
    }


def _adapt(
    runner: _Runner,
    external: dict[str, str],
    attempts: list[dict[str, Any]],
    done: Callable[[StepOutcome], None],
) -> None:
    """Refit with corrected settings until the gate passes or ``max_attempts`` are spent;
    every attempt's steps are cached like the first one's."""
    from ouroboros.pipeline.auto import corrections

    settings = runner.config
    first = attempts[0]["generator"]
    ranking = runner.entries["select"].meta["ranking"] if "select" in runner.entries else []
    tried = [first["name"]]
    later = [s for s in STEPS if s.name in ("fit", "sample", "evaluate", "gate")]
    table = settings.generator["params"] if settings.generator["name"] == "auto" else None
    for number, spec in zip(
        range(2, settings.adapt["max_attempts"] + 1),
        corrections(first, ranking, tried, settings.adapt.get("correct"), table),
        strict=False,
    ):
        fix = f", sample corrected by {spec['correct']}" if spec.get("correct") else ""
        runner.say(f"adapt: attempt {number} with {spec['name']} {spec['params']}{fix}")
        generator = {"correct": None, **settings.generator, **spec}
        runner.config = dataclasses.replace(settings, generator=generator)
        for step in later:
            outcome = runner.step(step, external)
            outcome.step = f"{step.name}#{number}"
            done(outcome)
        tried.append(spec["name"])
        attempts.append(_attempt(number, runner))
        if attempts[-1]["passed"]:
            break
    if not attempts[-1]["passed"] and len(attempts) < settings.adapt["max_attempts"]:
        runner.say(f"adapt: no other settings to try after {len(attempts)} attempts")
    runner.config = settings


def _write_report(runner: _Runner, attempts: list[dict[str, Any]], path: Path) -> None:
    """The last attempt's report with the table of every attempt."""
    from ouroboros.metrics import Evaluation
    from ouroboros.report.pipeline import write_pipeline_report

    entries = runner.entries
    evaluation = Evaluation.from_json(entries["evaluate"].path("evaluation.json").read_text())
    extra = {"gate": _gate(runner), "generator": attempts[-1]["generator"], "attempts": attempts}
    if "select" in entries:
        extra["comparison"] = entries["select"].meta.get("comparison")
    write_pipeline_report(evaluation.to_dict(), extra, path)


def status(
    config: PipelineConfig | str | os.PathLike | dict, *, cache: str | os.PathLike | None = None
) -> list[StepOutcome]:
    """Each step's state without running anything: ``done``, ``corrupted`` or ``pending``."""
    settings = load_config(config, cache)
    runner = _Runner(settings, lambda _line: None)
    out = []
    external = runner.external_inputs()
    for step in steps_for(settings, STEPS):
        key = runner.key(step, external)
        entry = runner.cache.peek(step.name, key) if key is not None else None
        if entry is None:
            out.append(StepOutcome(step.name, "pending", key, None, step.describe))
            continue
        bad = [
            n
            for n, h in entry.files.items()
            if not entry.path(n).is_file() or file_hash(entry.path(n)) != h
        ]
        if bad:
            out.append(
                StepOutcome(step.name, "corrupted", key, None, f"{bad[0]} changed; will rerun")
            )
            continue
        runner.entries[step.name] = entry
        out.append(StepOutcome(step.name, "done", key, entry.meta.get("seconds"), step.describe))
    out.append(_publish_status(runner))
    return out


def _adapted(runner: _Runner) -> StepOutcome | None:
    """After a failed first gate, what the last run's ``[adapt]`` attempts published."""
    if runner.config.adapt is None:
        return None
    try:
        last = json.loads((runner.cache.root / LAST_RUN).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    passed = [a for a in last.get("attempts", []) if a.get("passed")]
    target = last.get("published")
    if not passed or target is None or not Path(target).is_file():
        return None
    attempt = passed[-1]
    spec = attempt["generator"]
    note = f"{target} (attempt {attempt['attempt']}: {spec['name']} {spec['params']})"
    return StepOutcome("publish", "done", None, None, note)


def _publish_status(runner: _Runner) -> StepOutcome:
    entries, config = runner.entries, runner.config
    target = Path(config.publish["path"])
    if "gate" not in entries:
        return StepOutcome("publish", "pending", None, None, "after the gate")
    gate = json.loads(entries["gate"].path("gate.json").read_text("utf-8"))
    if not gate["passed"]:
        adapted = _adapted(runner)
        if adapted is not None:
            return adapted
        return StepOutcome("publish", "blocked", None, None, "; ".join(gate["failed"]))
    key = _publish_key(config, entries)
    recorded = runner.cache.peek("publish", key)
    if recorded is not None and _intact(recorded):
        return StepOutcome("publish", "done", key, None, str(target))
    return StepOutcome("publish", "pending", key, None, f"write {target}")
