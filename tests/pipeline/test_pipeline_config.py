"""A bad pipeline file gives one error naming each bad key and its line in the TOML."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ouroboros.cli import run as cli
from ouroboros.pipeline import PipelineConfig, PipelineConfigError
from ouroboros.pipeline.config import locate
from ouroboros.pipeline.gate import parse_gate


def _error(path) -> str:
    with pytest.raises(PipelineConfigError) as info:
        PipelineConfig.from_toml(path)
    return str(info.value)


def _line_of(path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


def test_unknown_section_names_it_and_its_line(write_config):
    path = write_config(publsh='path = "x.csv"')
    message = _error(path)
    assert f"line {_line_of(path, '[publsh]')}: publsh: unknown section" in message


def test_unknown_key_names_it_and_its_line(write_config):
    path = write_config(generator='name = "gaussian_copula"\nepochs = 3')
    message = _error(path)
    assert f"line {_line_of(path, 'epochs')}: generator.epochs: unknown key" in message
    assert "1 problem(s)" in message


def test_wrong_type_names_the_key_its_line_and_what_is_allowed(write_config):
    path = write_config(sample='rows = "many"')
    message = _error(path)
    assert f"line {_line_of(path, 'rows =')}: sample.rows: must be an integer >= 1" in message
    assert "'many'" in message


def test_missing_file_names_the_key_and_its_line(write_config):
    path = write_config(source='path = "nowhere.csv"\nholdout = 0.2')
    message = _error(path)
    assert f"line {_line_of(path, 'nowhere')}: source.path: no file" in message


def test_bad_gate_threshold_and_unknown_quantity(write_config):
    path = write_config(gate='detection_auc = "about 0.9"\nsparkle = "<= 1"')
    message = _error(path)
    assert f"line {_line_of(path, 'about')}: gate.detection_auc: must be a threshold" in message
    assert f"line {_line_of(path, 'sparkle')}: gate.sparkle: not a metric" in message


def test_bad_generator_params_and_missing_sections(write_config):
    path = write_config(generator='name = "gaussian_copula"\nparams = { bogus = 1 }', publish=None)
    message = _error(path)
    assert f"line {_line_of(path, 'bogus')}: generator.params:" in message
    assert "section [publish] is missing" in message


def test_cli_gives_one_error_and_exit_code_1(write_config, capsys):
    path = write_config(sample="rows = 0")
    assert cli(["pipeline", "run", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "sample.rows" in err and "Traceback" not in err


def test_invalid_toml_gives_its_line(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text("[source]\npath = \n", encoding="utf-8")
    assert "line 2" in _error(path)


def test_a_missing_pipeline_file(tmp_path, capsys):
    assert cli(["pipeline", "run", str(tmp_path / "none.toml")]) == 1
    assert "no pipeline file" in capsys.readouterr().err


def test_locate_finds_keys_in_tables_dotted_keys_and_inline_tables():
    text = '[source]\npath = "a"\n\n[generator]\nname = "x"  # c\nparams = { epochs = 1 }\n'
    assert locate(text, "source", "path") == 2
    assert locate(text, "generator", None) == 4
    assert locate(text, "generator", "params") == 6
    assert locate(text, "generator", "seed") is None
    assert locate('sample.rows = 3\n[gate]\n"x" = 1\n', "sample", "rows") == 1
    assert locate('sample.rows = 3\n[gate]\n"x" = 1\n', "gate", "x") == 3
    assert locate("source = { path = 'a', holdout = 2 }\n", "source", "holdout") == 1
    assert (
        locate("[generator]\nname = 'x'\n[generator.params]\nbogus = 1\n", "generator", "params")
        == 3
    )


@given(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from(["<=", "<", ">=", ">", "=="]))
def test_gate_thresholds_parse_back(limit, op):
    (threshold,), problems = parse_gate({"detection_auc": f"{op} {limit!r}"})
    assert problems == [] and threshold.op == op and threshold.limit == limit


def test_holdout_path_and_schema_file(write_config, tmp_path, small_table):
    from ouroboros.pipeline import run
    from ouroboros.schema import Schema

    small_table.iloc[:80].to_csv(tmp_path / "holdout.csv", index=False)
    Schema.detect(small_table).save(tmp_path / "schema.json")
    config = write_config(
        source='path = "data.csv"\nholdout_path = "holdout.csv"\nschema = "schema.json"'
    )
    result = run(config)
    assert result.passed
    evaluation = next(
        (tmp_path / ".ouro-pipeline" / "steps" / "evaluate").glob("*/evaluation.json")
    )
    rows = json.loads(evaluation.read_text())["info"]["rows"]
    assert rows["holdout"] == 80 and rows["real"] == len(small_table)
    both = write_config(source='path = "data.csv"\nholdout = 0.2\nholdout_path = "holdout.csv"')
    with pytest.raises(PipelineConfigError, match="line 4: source.holdout_path: give either"):
        PipelineConfig.from_toml(both)
