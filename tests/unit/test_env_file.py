"""`python -m keeper --env-file FILE`: GIVEN settings in deploy/operator.env's form (deploy.sh's
`quote_word`: single quotes where needed, a quote as '\\''), or the local stack's export line,
THEN each KEY gets its value as the shell would; a line that is not KEY=VALUE is refused with
its file and line number."""

import re
from pathlib import Path

import pytest

from keeper.operator.cli import CliError, read_env_file


def test_the_deploys_quoting_comments_and_export_lines_read_as_the_shell_would(tmp_path: Path):
    settings = tmp_path / "operator.env"
    settings.write_text(
        "# The keeper deployed by deploy/deploy.sh (each deploy rewrites it).\n"
        "GOOGLE_CLOUD_PROJECT=keeper-prod\n"
        "\n"
        "KEEPER_ALERTS_TOPIC=projects/keeper-prod/topics/keeper-alerts\n"
        "EXTRA='two words'\n"
        "QUOTE='it'\\''s'\n"
        "export A=1 B=http://127.0.0.1:8085/  # the local stack's line\n"
    )
    assert read_env_file(settings) == {
        "GOOGLE_CLOUD_PROJECT": "keeper-prod",
        "KEEPER_ALERTS_TOPIC": "projects/keeper-prod/topics/keeper-alerts",
        "EXTRA": "two words",
        "QUOTE": "it's",
        "A": "1",
        "B": "http://127.0.0.1:8085/",
    }


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("gcloud auth login", "not KEY=VALUE: 'gcloud'"),
        ("2X=1", "not KEY=VALUE: '2X=1'"),
        ("A='unclosed", "No closing quotation"),
    ],
)
def test_a_line_that_is_not_a_setting_is_refused_with_where_it_is(tmp_path, line, said):
    settings = tmp_path / "operator.env"
    settings.write_text(f"GOOGLE_CLOUD_PROJECT=p\n{line}\n")
    with pytest.raises(CliError, match=re.escape(f"operator.env:2: {said}")):
        read_env_file(settings)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CliError, match=r"cannot read --env-file .*missing\.env: No such file"):
        read_env_file(tmp_path / "missing.env")
