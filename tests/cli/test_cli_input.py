"""What `mlops` prints for bad input: exactly one `Error:` line per problem and exit code 1, never
click's usage block, a traceback or an `internal error:`; and the global options accepted after
the command as well as before it."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from mlops_gitops.cli import context
from mlops_gitops.cli.context import Options, create_private
from mlops_gitops.cli.main import main
from mlops_gitops.errors import MlopsError

MINIMAL = Path(__file__).resolve().parents[2] / "stacks" / "minimal" / "stack.yaml"


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, list[str]]:
    """`mlops ARGS` in this process, through main() as the console script runs it."""
    monkeypatch.setattr(sys, "argv", ["mlops", *args])
    with pytest.raises(SystemExit) as info:
        main()
    out, err = capsys.readouterr()
    code = info.value.code
    return code if isinstance(code, int) else 1, out, err.splitlines()


@pytest.fixture
def stack_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "stack.yaml").write_text(MINIMAL.read_text())
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---------------------------------------------------------------------------- var files
def test_a_directory_as_var_file_is_one_line(monkeypatch, capsys, stack_dir: Path) -> None:
    (stack_dir / "vars").mkdir()
    assert run_main(monkeypatch, capsys, "validate", "--var-file", "vars") == (
        1,
        "",
        ["Error: --var-file vars: is a directory"],
    )


def test_a_missing_var_file_is_one_line(monkeypatch, capsys, stack_dir: Path) -> None:
    assert run_main(monkeypatch, capsys, "validate", "--var-file", "nope.yaml")[2] == [
        "Error: --var-file nope.yaml: no such file"
    ]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_endless_var_file_is_one_line(monkeypatch, capsys, stack_dir: Path) -> None:
    assert run_main(monkeypatch, capsys, "validate", "--var-file", "/dev/zero") == (
        1,
        "",
        ["Error: --var-file /dev/zero: is larger than 8 MiB, the most a stack or variable file may hold"],
    )


# ---------------------------------------------------------------------------- usage errors
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["validate", "--sandbx"],
            "Error: No such option '--sandbx'. Did you mean '--sandbox'? (see mlops validate --help)",
        ),
        (
            ["plan", "--parallelism", "0"],
            "Error: Invalid value for '--parallelism': 0 is not in the range 1<=x<=256. "
            "(see mlops plan --help)",
        ),
        (["state", "show"], "Error: Missing argument 'ADDRESS'. (see mlops state show --help)"),
        (["nope"], "Error: No such command 'nope'. (see mlops --help)"),
        (["validate", "extra"], "Error: Got unexpected extra argument (extra) (see mlops validate --help)"),
    ],
)
def test_usage_errors_are_one_line(
    monkeypatch, capsys, stack_dir: Path, args: list[str], expected: str
) -> None:
    assert run_main(monkeypatch, capsys, *args) == (1, "", [expected])


def test_help_is_still_help(monkeypatch, capsys) -> None:
    code, out, _ = run_main(monkeypatch, capsys, "--help")
    assert code == 0 and out.startswith("Usage: mlops")
    assert "may also follow the command" in out


# ---------------------------------------------------------------------------- hostile stacks
@pytest.mark.parametrize(
    "text",
    [
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdefg", "bcdefgh", strict=True)
        ),
        "tags: " + "[" * 800 + "]" * 800 + "\n",
        "tags: " + "{a: " * 600 + "1" + "}" * 600 + "\n",
    ],
    ids=["billion-laughs", "deep-lists", "deep-mappings"],
)
def test_hostile_stacks_are_one_located_error(monkeypatch, capsys, stack_dir: Path, text: str) -> None:
    (stack_dir / "stack.yaml").write_text(MINIMAL.read_text() + text)
    code, out, err = run_main(monkeypatch, capsys, "validate")
    assert (code, out, len(err)) == (1, "", 1), err
    assert err[0].startswith("Error: stack.yaml:") and "internal error" not in err[0]


def test_provider_settings_are_not_echoed(monkeypatch, capsys, stack_dir: Path) -> None:
    text = MINIMAL.read_text().replace("role_arn: arn:aws:iam::123456789012:role/", "role_arn: hunter2-")
    (stack_dir / "stack.yaml").write_text(text)
    code, _, err = run_main(monkeypatch, capsys, "validate")
    assert code == 1 and len(err) == 1
    assert err[0].startswith("Error: stack.yaml:8:15: provider.sagemaker.role_arn: must be text matching")
    assert "hunter2" not in err[0]


# ---------------------------------------------------------------------------- global options
@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[Options]:
    """The Options a command loads its stack with (it stops there)."""
    got: list[Options] = []

    def load_stack(self: Options) -> None:
        got.append(self)
        raise MlopsError("stopped")

    monkeypatch.setattr(context.Options, "load_stack", load_stack)
    return got


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "--sandbox", "--no-color", "-f", "other.yaml"],
        ["--sandbox", "plan", "--no-color", "--file", "other.yaml"],
        ["state", "list", "--sandbox", "--no-color", "-f", "other.yaml"],
        ["state", "--sandbox", "list", "--no-color", "-f", "other.yaml"],
        ["validate", "--sandbox", "--no-color", "-f", "other.yaml"],
    ],
)
def test_global_options_after_the_command(
    monkeypatch, capsys, stack_dir: Path, seen: list[Options], args: list[str]
) -> None:
    assert run_main(monkeypatch, capsys, *args)[2] == ["Error: stopped"]
    [opts] = seen
    assert (opts.sandbox, opts.color, opts.file) == (True, False, "other.yaml")


def test_chdir_after_the_command(monkeypatch, capsys, stack_dir: Path) -> None:
    inner = stack_dir / "inner"
    inner.mkdir()
    (inner / "other.yaml").write_text(MINIMAL.read_text())
    code, out, err = run_main(monkeypatch, capsys, "validate", "-f", "other.yaml", "--chdir", "inner")
    assert code == 0, err
    assert "other.yaml is valid" in out
    assert Path.cwd() == inner


def test_chdir_after_the_command_applies_before_a_file_argument_is_checked(
    monkeypatch, capsys, stack_dir: Path
) -> None:
    inner = stack_dir / "inner"
    inner.mkdir()
    (inner / "saved.plan").write_text("not a plan")
    _, _, err = run_main(monkeypatch, capsys, "show", "saved.plan", "--chdir", "inner")
    assert len(err) == 1 and "does not exist" not in err[0]


def test_a_bad_chdir_after_the_command_is_one_line(monkeypatch, capsys, stack_dir: Path) -> None:
    assert run_main(monkeypatch, capsys, "validate", "--chdir", "nowhere")[2] == [
        "Error: --chdir nowhere: no such file or directory"
    ]


# ---------------------------------------------------------------------------- private files
def test_create_private_is_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        create_private(tmp_path / "generated.yaml", "secret: x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "generated.yaml").stat().st_mode) == 0o600
    assert (tmp_path / "generated.yaml").read_text() == "secret: x\n"
    with pytest.raises(MlopsError, match="already exists"):
        create_private(tmp_path / "generated.yaml", "again")


def test_an_interrupt_exits_130(monkeypatch, capsys, stack_dir: Path) -> None:
    def interrupted(self: Options) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(context.Options, "load_stack", interrupted)
    code, _, err = run_main(monkeypatch, capsys, "validate")
    assert (code, err[-1:]) == (130, ["Interrupted."])
