"""Every ``jaxaccel ...`` command that the README shows runs to completion (exit status 0),
in a scratch folder (slow: the map commands are 60 x 60 grids and the demo runs N = 1e5)."""

import pathlib
import re
import shlex

import pytest

from jaxaccel import cli

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def readme_commands():
    """The ``jaxaccel`` command lines of the README's shell code blocks (comments dropped)."""
    text = README.read_text()
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("jaxaccel"):
                    out.append(part)
    return out


def test_the_readme_shows_commands():
    cmds = readme_commands()
    assert any(c.startswith("jaxaccel map") for c in cmds) and "jaxaccel demo" in cmds


@pytest.mark.slow
@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_runs(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    if "simulate my.json" in command:  # the README writes my.json with the previous command
        assert cli.main(["simulate", "--example"]) == 0
        (tmp_path / "my.json").write_text(capsys.readouterr().out)
    argv = shlex.split(command.split(">")[0])[1:]
    try:
        rc = cli.main(argv)
    except SystemExit as exit_:  # argparse's --help
        rc = exit_.code or 0
    assert rc == 0, capsys.readouterr().err
