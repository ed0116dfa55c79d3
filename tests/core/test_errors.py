import pytest

from ouroboros import errors


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (errors.DataError, ValueError),
        (errors.SchemaError, ValueError),
        (errors.ParameterError, ValueError),
        (errors.NotFittedError, AttributeError),
        (errors.ModelFileError, ValueError),
        (errors.FileFormatError, ValueError),
        (errors.ConditionError, ValueError),
        (errors.MissingDependencyError, ImportError),
        (errors.CollapseError, RuntimeError),
        (errors.StoreError, RuntimeError),
    ],
)
def test_every_error_has_one_root_and_its_builtin(error, builtin):
    assert issubclass(error, errors.OuroborosError)
    assert issubclass(error, builtin)


def test_warning_root():
    assert issubclass(errors.DataWarning, errors.OuroborosWarning)
    assert issubclass(errors.OuroborosWarning, UserWarning)


def test_check_param_names_the_parameter():
    with pytest.raises(errors.ParameterError, match="parameter 'epochs' must be a positive int"):
        errors.check_param("epochs", -1, False, "a positive int")
    errors.check_param("epochs", 1, True, "a positive int")
