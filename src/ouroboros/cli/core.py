"""``ouro fit``, ``sample``, ``schema``, ``list`` and ``demo``."""

from __future__ import annotations

import inspect
from pathlib import Path

import typer
from rich.table import Table

from ouroboros import datasets, synthesizers
from ouroboros.causal.graph import read_dag
from ouroboros.cli._common import (
    console,
    parse_conditions,
    parse_params,
    sequence_schema,
    step,
)
from ouroboros.cli.detect import guard_options, guarded_fit
from ouroboros.cli.lineage import STORE_HELP, ensure_fit_lineage, sample_lineage
from ouroboros.cli.privacy import dp_params, precheck, private_kind, record_fit
from ouroboros.cli.rules import auto_rules, fit_rules
from ouroboros.errors import ParameterError
from ouroboros.io import CsvFormat, atomic_write_text, read_table_format, write_table
from ouroboros.report.causal import write_graph
from ouroboros.schema import Schema
from ouroboros.summary import compare_columns, render_text

DEFAULT_SYNTHESIZER = "gaussian_copula"


def fit(
    data: Path = typer.Argument(..., help="Training table (CSV or Parquet)."),
    synth: str = typer.Option(DEFAULT_SYNTHESIZER, "--synth", "-s", help="Generator name."),
    param: list[str] = typer.Option(None, "--param", "-p", help="Hyper-parameter KEY=VALUE."),
    schema: Path = typer.Option(None, "--schema", help="Schema JSON (from `ouro schema`)."),
    seed: int = typer.Option(None, "--seed", help="Random seed (same seed, same model)."),
    output: Path = typer.Option(..., "--output", "-o", help="Model file to write (.ouro)."),
    rules: Path = typer.Option(None, "--rules", help="Rules JSON (from `ouro rules`)."),
    auto: bool = typer.Option(
        None,
        "--auto-rules/--no-auto-rules",
        help="Discover the rules DATA obeys and keep them (default: on, but for DP and "
        "sequence fits).",
    ),
    rule_tolerance: float = typer.Option(
        0.0, "--rule-tolerance", help="Share of rows a rule may break (0: none)."
    ),
    dag: Path = typer.Option(None, "--dag", help="Causal graph JSON, [[parent, child], ...]."),
    graph: Path = typer.Option(None, "--graph", help="Write the causal graph page (HTML) here."),
    guard: str = typer.Option(
        "warn", "--guard", help="Synthetic training data: warn, strict (refuse, exit 1) or off."
    ),
    allow_synthetic: bool = typer.Option(
        False, "--allow-synthetic", help="Train on synthetic data anyway (the guard records it)."
    ),
    max_synthetic_share: float = typer.Option(
        0.0, "--max-synthetic-share", help="Share of synthetic rows the guard lets pass."
    ),
    max_depth: int = typer.Option(None, "--max-depth", help="Deepest generation let pass."),
    sequence_key: str = typer.Option(
        None, "--sequence-key", help="Entity column: one sequence per value (sequence models)."
    ),
    sequence_index: str = typer.Option(
        None, "--sequence-index", help="Order column of the events: a datetime or step number."
    ),
    epsilon: float = typer.Option(
        None, "--epsilon", help="Differential privacy budget epsilon (private generators)."
    ),
    delta: float = typer.Option(None, "--delta", help="Differential privacy delta."),
    privacy_budget: float = typer.Option(
        None, "--privacy-budget", help="Refuse a DP release taking DATA's total epsilon past this."
    ),
    store: str = typer.Option(None, "--store", help=STORE_HELP + " Holds the privacy ledger."),
) -> None:
    """Fit a generator on DATA and save it to one model file.

    A DP fit (`--epsilon`) records its release in DATA's privacy ledger (`ouro ledger`)."""
    params = dp_params(synth, parse_params(param), epsilon, delta)
    if dag is not None:
        params["dag"] = [list(edge) for edge in read_dag(dag)]
    if seed is not None:
        params["seed"] = seed
    guarding = guard_options(guard, allow_synthetic, max_synthetic_share, max_depth)
    model = synthesizers.create(synth, **params)
    if "verbose" in model.param_names() and "verbose" not in params:
        model.set_params(verbose=True)
    _check_output_folder(output)
    with step(f"reading {data.name}"):
        table, csv_format = read_table_format(data)
    ledger_key = precheck(table, model, store, privacy_budget)
    with step(f"fitting {synth} on {len(table):,} rows x {table.shape[1]} columns"):
        found = fit_rules(table, schema, rules, auto_rules(model, auto), rule_tolerance)
        extra = {"rules": found, "rule_tolerance": rule_tolerance} if found else {}
        schema = sequence_schema(table, schema, sequence_key, sequence_index)
        guarded_fit(model, table, data, guarding, schema=schema, **extra)
    ensure_fit_lineage(model, table)
    _record_format(model.schema_, csv_format)
    record_fit(model, ledger_key, output, store, privacy_budget)
    model.save(output)
    console.print(f"model written to [bold]{output}[/]")
    if graph is not None:
        if not hasattr(model, "graph_"):
            raise ParameterError(f"--graph: a {synth!r} model has no causal graph")
        write_graph(model.graph_.to_dict(), graph, sorted(model.removed_edges()))
        console.print(f"causal graph drawn in [bold]{graph}[/]")


def sample(
    model: Path = typer.Argument(..., help="Model file written by `ouro fit`."),
    n: int = typer.Option(..., "-n", "--rows", help="Number of rows to draw."),
    output: Path = typer.Option(..., "--output", "-o", help="Output table (.csv or .parquet)."),
    seed: int = typer.Option(None, "--seed", help="Random seed (same seed, same rows)."),
    intervene: list[str] = typer.Option(
        None, "--intervene", help="do(COLUMN=VALUE) or a shift COLUMN=+5 (causal models)."
    ),
    condition: list[str] = typer.Option(
        None, "--condition", "-c", help="Every row meets COLUMN=VALUE or COLUMN=LOW..HIGH."
    ),
    param: list[str] = typer.Option(
        None, "--param", "-p", help="Sampling setting KEY=VALUE, e.g. temperature=0.8 (argn)."
    ),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
    no_watermark: bool = typer.Option(
        False, "--no-watermark", help="Do not embed the keyed watermark (see `ouro detect`)."
    ),
    start: str = typer.Option(
        None, "--start", help="First time or step of a single series (sequence models)."
    ),
) -> None:
    """Draw N synthetic rows from a saved model (a CSV in the training file's dialect).

    The table's lineage record goes into its Parquet metadata or CSV sidecar, and into
    the catalog (`--store`)."""
    if n <= 0:
        raise ParameterError(f"-n must be a positive number of rows; got {n}")
    _check_output_folder(output)
    loaded = synthesizers.load(model)
    if param:
        loaded.set_params(**parse_params(param))
    options = {"conditions": parse_conditions(condition)} if condition else {}
    if intervene:
        if "interventions" not in inspect.signature(loaded.sample).parameters:
            raise ParameterError(f"a {loaded.name!r} model takes no --intervene")
        options["interventions"] = parse_params(intervene)
    if start is not None:
        if not loaded.tags.sequential:
            raise ParameterError(f"--start: a {loaded.name!r} model draws rows, not a series")
        index = loaded.schema_.sequence.index if loaded.schema_.sequence else None
        numeric = index is not None and loaded.schema_[index].kind.value != "datetime"
        options["start"] = float(start) if numeric else start
    if no_watermark and "watermark" in inspect.signature(loaded.sample).parameters:
        options["watermark"] = False
    with step(f"sampling {n:,} rows"):
        table = loaded.sample(n, seed=seed, **options)
    sample_lineage(loaded, table, seed)
    fmt = CsvFormat.from_dict(loaded.schema_.extras.get("csv"))
    write_table(table, output, fmt, store=store)
    console.print(f"{len(table):,} rows written to [bold]{output}[/]")


def schema(
    data: Path = typer.Argument(..., help="Table (CSV or Parquet)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the schema JSON here."),
    sequence_key: str = typer.Option(None, "--sequence-key", help="Entity column of events."),
    sequence_index: str = typer.Option(None, "--sequence-index", help="Order column of events."),
) -> None:
    """Detect and print the schema of DATA (edit it and pass it to `ouro fit --schema`)."""
    table, csv_format = read_table_format(data)
    detected = Schema.detect(table)
    if sequence_key is not None or sequence_index is not None:
        detected.with_sequence(table, key=sequence_key, index=sequence_index)
    _record_format(detected, csv_format)
    if output is None:
        typer.echo(detected.to_json())
        return
    _check_output_folder(output)
    detected.save(output)
    table = Table("column", "kind", "dtype", "missing", "details")
    for column in detected.columns:
        details = (
            f"{len(column.categories)} categories"
            if column.categories is not None
            else f"[{column.min}, {column.max}]"
            if column.min is not None
            else ""
        )
        table.add_row(
            column.name, column.kind.value, column.dtype, f"{column.missing_fraction:.1%}", details
        )
    console.print(table, markup=False)
    console.print(f"schema written to [bold]{output}[/]")


def list_command() -> None:
    """List the generators, and how to install those whose optional extra is missing."""
    table = Table("generator", "description")
    for name in synthesizers.names(include_unavailable=True):
        hint = synthesizers.install_hint(name)
        if hint is not None:
            table.add_row(name, f"not installed: {hint}")
            continue
        doc = (synthesizers.get(name).__doc__ or "").strip().splitlines()
        private = private_kind(name)
        table.add_row(name, (f"[private: {private}] " if private else "") + (doc[0] if doc else ""))
    console.print(table, markup=False)


def demo(
    output: Path = typer.Option(Path("ouro-demo"), "--output", "-o", help="Folder to write."),
    synth: str = typer.Option(DEFAULT_SYNTHESIZER, "--synth", "-s", help="Generator name."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
) -> None:
    """Fit a generator on the bundled Adult slice, compare, and write an HTML report.

    80% of the rows train the generator; the other 20% are the holdout that
    gives every score of the report its real-vs-real ceiling.
    """
    from ouroboros.metrics import evaluate

    output.mkdir(parents=True, exist_ok=True)
    info = datasets.info("adult")
    with step("loading the bundled Adult census slice"):
        real = datasets.load("adult")
        train = real.sample(frac=0.8, random_state=seed)
        holdout = real.drop(train.index).reset_index(drop=True)
        train = train.reset_index(drop=True)
    model = synthesizers.create(synth, seed=seed)
    with step(f"fitting {synth} on {len(train):,} rows"):
        model.fit(train)
    with step(f"sampling {len(train):,} rows"):
        synthetic = model.sample(len(train), seed=seed)
    write_table(synthetic, output / "synthetic.csv")
    model.save(output / "model.ouro")
    text = render_text(compare_columns(train, synthetic, model.schema_))
    atomic_write_text(output / "summary.txt", text)
    typer.echo(text)
    with step("evaluating fidelity, detection, diversity, privacy, utility, fairness, collapse"):
        evaluation = evaluate(
            train,
            synthetic,
            holdout=holdout,
            target=info["target"],
            sensitive=info["sensitive"],
            schema=model.schema_,
            seed=seed,
        )
        evaluation.to_html(output / "report.html")
    written = ", ".join(
        str(output / name) for name in ("synthetic.csv", "model.ouro", "summary.txt", "report.html")
    )
    console.print(f"wrote {written}")


def _record_format(detected: Schema, csv_format: CsvFormat | None) -> None:
    """Keep the CSV dialect in the schema (samples are written alike); warn of noted columns."""
    if csv_format is not None:
        detected.extras["csv"] = csv_format.to_dict()
    for column in detected.columns:
        if column.note:
            console.print(
                f"warning: column {column.name!r}: {column.note}", markup=False, soft_wrap=True
            )


def _check_output_folder(path: Path) -> None:
    if not path.parent.exists():
        raise ParameterError(
            f"output {str(path)!r}: folder {str(path.parent)!r} does not exist; create it first"
        )


def register(app: typer.Typer) -> None:
    app.command()(fit)
    app.command()(sample)
    app.command()(schema)
    app.command("list")(list_command)
    app.command()(demo)
