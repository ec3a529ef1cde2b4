"""The reliability bench's commands, as README.md and docs/ write them, work as written.

A headline figure's command that argparse refuses (exit 2: `unrecognized arguments: -k`), or
whose pytest selection matches nothing, fails here rather than in a reader's terminal. Each
documented command goes through `python -m bench.reliability`'s own parsing; one that hands
pytest a selection runs, with `--collect-only`: the selection is checked, no soak runs.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from bench import reliability

REPO = Path(__file__).resolve().parents[2]
# The command and its arguments, up to the end of the inline code span, comment or line;
# optional NAME=value assignments before it.
COMMAND = re.compile(r"((?:[A-Z_]+=\S+ )*)(?:\.venv/bin/)?python -m bench\.reliability([^`\n#]*)")


def documented_commands() -> list[tuple[str, dict[str, str], list[str]]]:
    """(the first file that shows it, its variables, its arguments), each command once."""
    found: list[tuple[str, dict[str, str], list[str]]] = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for match in COMMAND.finditer(path.read_text()):
            if "[" in match.group(2):
                continue  # a synopsis such as `[--full]`, not a command to run
            env = dict(word.split("=", 1) for word in shlex.split(match.group(1)))
            args = shlex.split(match.group(2))
            if all((env, args) != (e, a) for _, e, a in found):
                found.append((path.name, env, args))
    return found


COMMANDS = documented_commands()


def test_the_readme_headline_commands_are_found() -> None:
    in_readme = [(env, args) for where, env, args in COMMANDS if where == "README.md"]
    assert (
        {"KEEPER_CHAOS_SUBSCRIPTIONS": "100", "KEEPER_CHAOS_SECONDS": "120"},
        ["-k", "chaos"],
    ) in in_readme
    assert any(args == ["--full"] for _, args in in_readme)


@pytest.mark.parametrize(
    ("argv", "full", "pytest_args"),
    [
        (["-k", "chaos"], False, ["-k", "chaos"]),  # the README's form
        (["--", "-k", "chaos"], False, ["-k", "chaos"]),  # the older form still works
        (["--full"], True, []),
        (["-k", "soak", "--full", "-x"], True, ["-k", "soak", "-x"]),
        (["--full-trace"], False, ["--full-trace"]),  # pytest's, not an abbreviation of ours
        (["-k", "soak", "--", "--full"], False, ["-k", "soak", "--full"]),
    ],
)
def test_unknown_arguments_go_to_pytest_in_order(
    argv: list[str], full: bool, pytest_args: list[str]
) -> None:
    assert reliability.parse_args(argv) == (full, pytest_args)


@pytest.mark.parametrize(
    ("where", "env", "args"), COMMANDS, ids=[f"{w}:{' '.join(a)}" for w, _, a in COMMANDS]
)
def test_each_documented_command_parses_and_selects_reliability_tests(
    where: str,
    env: dict[str, str],
    args: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a command as the documentation writes it, its variables read by the suites
    suites = "\n".join(p.read_text() for p in (REPO / "tests" / "reliability").glob("*.py"))
    for name, value in env.items():
        assert f'"{name}"' in suites, f"{where}: {name} is read by no reliability suite"
        monkeypatch.setenv(name, value)
    # WHEN its arguments are parsed (argparse exits 2 on one it refuses)
    full, pytest_args = reliability.parse_args(args)
    assert full == ("--full" in args)
    assert pytest_args == [a for a in args if a not in ("--", "--full")]
    if not pytest_args:
        return  # the whole of tests/reliability: nothing more to check without running it
    # AND it runs, collecting only
    status = reliability.main([*args, "--collect-only", "-q"])
    # THEN pytest accepted the arguments and they selected tests (exit 5: none selected)
    assert status == 0, capsys.readouterr().out
