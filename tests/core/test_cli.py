import json

import pandas as pd
import pytest

from ouroboros.cli import run


@pytest.fixture
def data_file(tmp_path, mixed_table):
    path = tmp_path / "data.csv"
    mixed_table.to_csv(path, index=False)
    return path


def test_fit_sample_schema_round_trip(tmp_path, data_file, capsys):
    model = tmp_path / "m.ouro"
    assert (
        run(["fit", str(data_file), "--synth", "gaussian_copula", "--seed", "3", "-o", str(model)])
        == 0
    )
    out = tmp_path / "out.parquet"
    assert run(["sample", str(model), "-n", "25", "-o", str(out), "--seed", "1"]) == 0
    table = pd.read_parquet(out)
    assert len(table) == 25
    assert list(table.columns) == list(pd.read_csv(data_file).columns)
    again = tmp_path / "again.parquet"
    assert run(["sample", str(model), "-n", "25", "-o", str(again), "--seed", "1"]) == 0
    pd.testing.assert_frame_equal(table, pd.read_parquet(again))


def test_schema_prints_json_and_edited_schema_is_used(tmp_path, data_file, capsys):
    assert run(["schema", str(data_file)]) == 0
    schema = json.loads(capsys.readouterr().out)
    kinds = {c["name"]: c["kind"] for c in schema["columns"]}
    assert kinds["count"] == "integer"
    for column in schema["columns"]:
        if column["name"] == "count":
            column["kind"] = "categorical"
    edited = tmp_path / "schema.json"
    edited.write_text(json.dumps(schema))
    model = tmp_path / "m.ouro"
    assert run(["fit", str(data_file), "--schema", str(edited), "-o", str(model)]) == 0
    from ouroboros.synthesizers import load

    assert load(model).schema_["count"].kind.value == "categorical"


def test_schema_written_to_file(tmp_path, data_file):
    target = tmp_path / "s.json"
    assert run(["schema", str(data_file), "-o", str(target)]) == 0
    assert json.loads(target.read_text())["format_version"] == 1


def test_list_names_generators(capsys):
    assert run(["list"]) == 0
    err = capsys.readouterr().err
    assert "gaussian_copula" in err and "independent" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", "missing.csv", "-o", "m.ouro"], "no such file"),
        (["fit", "{data}", "--synth", "nope", "-o", "{tmp}/m.ouro"], "unknown synthesizer 'nope'"),
        (["fit", "{data}", "--param", "oops", "-o", "{tmp}/m.ouro"], "KEY=VALUE"),
        (["fit", "{data}", "-o", "{tmp}/no/such/folder/m.ouro"], "does not exist"),
        (["sample", "{data}", "-n", "5", "-o", "{tmp}/x.csv"], "not a complete ouroboros model"),
        (
            ["fit", "{data}", "--param", "correlation_rows=-1", "-o", "{tmp}/m.ouro"],
            "correlation_rows",
        ),
    ],
)
def test_errors_are_one_line_and_exit_1(tmp_path, data_file, capsys, argv, message):
    argv = [a.format(data=data_file, tmp=tmp_path) for a in argv]
    assert run(argv) == 1
    err = capsys.readouterr().err
    assert "\nerror: " in "\n" + err
    assert message in err
    assert "Traceback" not in err


def test_sample_rejects_non_positive_n(tmp_path, data_file, capsys):
    model = tmp_path / "m.ouro"
    run(["fit", str(data_file), "-o", str(model)])
    assert run(["sample", str(model), "-n", "0", "-o", str(tmp_path / "x.csv")]) == 1
    assert "positive" in capsys.readouterr().err


def test_debug_shows_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        run(["--debug", "fit", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "m.ouro")])


def test_failed_run_leaves_existing_output(tmp_path, data_file):
    out = tmp_path / "out.csv"
    out.write_text("precious")
    assert run(["sample", str(data_file), "-n", "5", "-o", str(out)]) == 1
    assert out.read_text() == "precious"


def test_demo_writes_outputs(tmp_path, capsys):
    folder = tmp_path / "demo"
    assert run(["demo", "-o", str(folder)]) == 0
    assert (folder / "synthetic.csv").exists() and (folder / "model.ouro").exists()
    summary = (folder / "summary.txt").read_text()
    assert "mean column similarity" in summary and "education" in summary
    synthetic = pd.read_csv(folder / "synthetic.csv")
    assert len(synthetic) == 4000
    report = (folder / "report.html").read_text()
    assert "<html" in report.lower() and "fidelity" in report
