"""Input the loader refuses before it can exhaust memory or recursion: huge files, aliases that
expand to billions of values, collections nested hundreds of levels deep. Each is one located
error, never a MemoryError or a RecursionError."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mlops_gitops import paths
from mlops_gitops.errors import StackError
from mlops_gitops.stack import yamlpos
from mlops_gitops.stack.loader import load_stack

Write = Callable[..., str]
Problems = Callable[..., list[str]]

HEAD = "apiVersion: mlops-gitops/v1\nname: fraud\nprovider: {sagemaker: {region: us-east-1}}\n"
VARIABLE = HEAD + "variables: {env: {}}\ntags: {env: '${var.env}'}\n"

# Ten lines that expand to 10^9 values if built naively.
LAUGHS = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)]
)


def deep_flow(levels: int) -> str:
    return "[" * levels + "]" * levels


def deep_block(levels: int) -> str:
    return "".join(f"{'  ' * i}k:\n" for i in range(levels)) + "  " * levels + "k: 1\n"


def stack_error(*args: object, **kwargs: object) -> list[str]:
    kwargs.setdefault("environ", {})
    with pytest.raises(StackError) as info:
        load_stack(*args, **kwargs)  # type: ignore[arg-type]
    return info.value.lines()


# ------------------------------------------------------------------------------ file size
def test_a_stack_file_over_the_cap_is_refused_without_being_parsed(workdir: Path) -> None:
    (workdir / "stack.yaml").write_bytes(HEAD.encode() + b"#" * yamlpos.MAX_FILE_BYTES)
    assert stack_error("stack.yaml") == [
        "stack.yaml: is larger than 8 MiB, the most a stack or variable file may hold"
    ]


def test_a_file_just_under_the_cap_is_read(workdir: Path) -> None:
    text = HEAD + "#" * (yamlpos.MAX_FILE_BYTES - len(HEAD) - 1) + "\n"
    (workdir / "stack.yaml").write_text(text)
    assert load_stack("stack.yaml", environ={}).name == "fraud"


def test_var_file_over_the_cap(write: Write, workdir: Path) -> None:
    write(VARIABLE)
    (workdir / "big.yaml").write_bytes(b"env: x\n" + b"#" * yamlpos.MAX_FILE_BYTES)
    assert stack_error("stack.yaml", var_files=["big.yaml"]) == [
        "--var-file big.yaml: is larger than 8 MiB, the most a stack or variable file may hold"
    ]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_endless_input_stops_at_the_cap(write: Write) -> None:
    write(VARIABLE)
    assert stack_error("stack.yaml", var_files=["/dev/zero"]) == [
        "--var-file /dev/zero: is larger than 8 MiB, the most a stack or variable file may hold"
    ]
    assert stack_error("/dev/zero") == [
        "/dev/zero: is larger than 8 MiB, the most a stack or variable file may hold"
    ]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_a_pipe_that_never_ends_stops_at_the_cap(write: Write, workdir: Path) -> None:
    write(VARIABLE)
    fifo = workdir / "vars.fifo"
    os.mkfifo(fifo)
    stop = threading.Event()

    def feed() -> None:
        try:
            with open(fifo, "wb") as pipe:
                while not stop.is_set():
                    pipe.write(b"# " * 65536)
        except BrokenPipeError:  # the reader had enough
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        assert stack_error("stack.yaml", var_files=[str(fifo)]) == [
            f"--var-file {fifo}: is larger than 8 MiB, the most a stack or variable file may hold"
        ]
    finally:
        stop.set()
        writer.join(timeout=10)


# ------------------------------------------------------------------------------ aliases
def test_billion_laughs_in_a_stack_is_refused_at_the_alias(workdir: Path) -> None:
    (workdir / "stack.yaml").write_text(HEAD + LAUGHS + "\n")
    # a: 11 nodes, b: 10 aliases of 11, c: 10 of 111, d: of 1111: the 8th alias in d passes 10,000.
    line = HEAD.count("\n") + 4
    column = LAUGHS.splitlines()[3].index("*c", len("d: &d [") + 7 * 4) + 1
    assert stack_error("stack.yaml") == [
        f"stack.yaml:{line}:{column}: YAML aliases expand to more than 10,000 values in this file: "
        "write the values out"
    ]


def test_billion_laughs_in_a_var_file(write: Write) -> None:
    write(VARIABLE)
    write(LAUGHS + "\nenv: x\n", "vars.yaml")
    [line] = stack_error("stack.yaml", var_files=["vars.yaml"])
    assert line.startswith("vars.yaml:4:")
    assert line.endswith("YAML aliases expand to more than 10,000 values in this file: write the values out")


def merges(levels: int) -> str:
    """Each level merges the previous one ten times over."""
    lines = ["m0: &m0 {k: 1}"]
    lines += [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 10)}]}}" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_merge_keys_count_as_the_values_they_bring() -> None:
    doc = yamlpos.parse(merges(3), "s.yaml")
    assert doc.diagnostics == []
    assert doc.data is not None and doc.data["m3"] == {"k": 1}
    [problem] = yamlpos.parse(merges(9), "s.yaml").diagnostics
    assert problem.message.startswith("YAML aliases expand to more than 10,000 values")


def test_ordinary_anchors_are_fine() -> None:
    text = "base: &base {instance_type: ml.m5.large, weight: 1}\n" + "".join(
        f"v{i}: {{<<: *base, name: v{i}}}\n" for i in range(200)
    )
    doc = yamlpos.parse(text, "s.yaml")
    assert doc.diagnostics == []
    assert doc.data is not None and doc.data["v199"]["instance_type"] == "ml.m5.large"


# ------------------------------------------------------------------------------ nesting
@pytest.mark.parametrize("levels", [101, 500, 999, 5000])
def test_deep_flow_nesting_is_one_located_error(workdir: Path, levels: int) -> None:
    (workdir / "stack.yaml").write_text(HEAD + "tags: " + deep_flow(levels) + "\n")
    # The top-level mapping is level 1, so the 100th `[` (column 6 + 100) is level 101. libyaml
    # stops at 1000 levels by itself, before any is composed: that is reported where it stops.
    column = 106 if levels < 1000 else 1006
    assert stack_error("stack.yaml") == [
        f"stack.yaml:4:{column}: collections nest more than 100 levels deep here"
    ]


def test_deep_block_nesting(workdir: Path) -> None:
    (workdir / "stack.yaml").write_text(HEAD + deep_block(600))
    # The first `k:` is in the top-level mapping (level 1, line 4): level 101 starts 100 lines on.
    assert stack_error("stack.yaml") == [
        "stack.yaml:104:201: collections nest more than 100 levels deep here"
    ]


def test_nesting_up_to_the_bound_is_accepted() -> None:
    doc = yamlpos.parse("a: " + deep_flow(99) + "\n", "s.yaml")
    assert doc.diagnostics == []


def test_an_alias_cannot_carry_deep_nesting_deeper(workdir: Path) -> None:
    # Each collection is within the bound where it is written, but not where the alias puts it.
    text = HEAD + "x: &deep " + deep_flow(90) + "\n" + "tags: " + "[" * 20 + "*deep" + "]" * 20 + "\n"
    (workdir / "stack.yaml").write_text(text)
    assert stack_error("stack.yaml") == ["stack.yaml:5:27: collections nest more than 100 levels deep here"]


def test_a_variable_cannot_carry_deep_nesting_deeper(write: Write) -> None:
    write(HEAD + "variables: {v: {}}\ntags: {a: '${var.v}'}\n")
    write("v: " + deep_flow(99) + "\n", "vars.yaml")  # 100 levels in its file, 101 in `tags.a`
    assert stack_error("stack.yaml", var_files=["vars.yaml"]) == [
        "stack.yaml:5:11: tags.a: the value of variable 'v' nests too deep to be placed here"
    ]


def test_the_pure_python_loader_does_not_recurse_either(monkeypatch: pytest.MonkeyPatch) -> None:
    # PyYAML's own composer recurses once per level, in Python when libyaml is missing.
    monkeypatch.setattr(yamlpos, "_LOADER", yaml.SafeLoader)
    for text in ("a: " + deep_flow(3000) + "\n", deep_block(800)):
        [problem] = yamlpos.parse(text, "s.yaml").diagnostics
        assert problem.message == "collections nest more than 100 levels deep here"


def test_values_within_the_bound_go_through_every_later_step(write: Write) -> None:
    # Validation, interpolation and attribute paths all walk values recursively: at the bound,
    # none of them may run out of stack.
    nested = "{a: " * 95 + "1" + "}" * 95
    write(HEAD + f"variables: {{v: {{default: {nested}}}}}\n" + "schedules: {}\n")
    stack = load_stack("stack.yaml", environ={})
    assert len(list(paths.leaves(stack.variables))) == 1
