"""Saved plans (`plan --out`, `apply FILE`, `show FILE`) without the sandbox.

The "cloud" here is a recorder on loopback: the stack's `endpoint_url` and AWS_ENDPOINT_URL point
every AWS client at it, so a test sees whether a command reached for the cloud at all, and nothing
can leave the machine. A plan of a stack with no state needs no cloud call, so plans are made
offline."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

MLOPS = str(Path(sys.executable).parent / "mlops")
SECRET = "hunter2-do-not-print"

STACK = """\
apiVersion: mlops-gitops/v1
name: {name}
provider:
  sagemaker:
    region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/mlops
    endpoint_url: {url}
variables:
  api_key: {{sensitive: true, default: {secret}}}
models:
  iris:
    artifact: s3://ml-artifacts-demo/iris/model.tar.gz
    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3
    environment: {{API_KEY: "${{var.api_key}}", AUTH_HEADER: "Bearer ${{var.api_key}}", MODE: fast}}
endpoints:
  iris-api:
    variants:
      - {{name: main, model: iris, serverless: {{memory_mb: 2048, max_concurrency: 5}}}}
"""


class Recorder:
    """A stand-in cloud that records every request and fails it fast (a client error, which
    boto3 does not retry)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                recorder.requests.append(self.headers.get("X-Amz-Target") or self.path)
                body = b'{"__type": "ValidationException", "message": "recorder: no cloud here"}'
                self.send_response(400)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_DELETE = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cloud() -> Iterator[Recorder]:
    rec = Recorder()
    yield rec
    rec.close()


def safe_env(cloud: Recorder, tmp: Path) -> dict[str, str]:
    """This environment minus anything that picks a cloud, a sandbox or a variable, with AWS
    pointed at the recorder."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLOPS_"))}
    out.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_ENDPOINT_URL=cloud.url,
        AWS_CONFIG_FILE=str(tmp / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        NO_COLOR="1",
    )
    return out


@pytest.fixture
def env(cloud: Recorder, tmp_path: Path) -> dict[str, str]:
    return safe_env(cloud, tmp_path)


def make_stack(parent: Path, name: str, cloud: Recorder) -> Path:
    d = parent / name
    d.mkdir()
    (d / "stack.yaml").write_text(STACK.format(name=name, url=cloud.url, secret=SECRET))
    return d


@pytest.fixture
def run(env: dict[str, str]):
    def run(
        cwd: Path, *args: str, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MLOPS, *args],
            cwd=cwd,
            env={**env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


@pytest.fixture
def planned(tmp_path: Path, cloud: Recorder, run) -> Path:
    """Stack `stack-a` with a plan saved as `a.plan` (made for the cloud)."""
    a = make_stack(tmp_path, "stack-a", cloud)
    res = run(a, "plan", "--out", "a.plan")
    assert res.returncode == 0, res.stderr
    assert cloud.requests == [], "planning a stack with no state needs no cloud call"
    return a / "a.plan"


@pytest.fixture
def in_process(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """`mlops ARGS` through the same entry point, in this process (with the same environment as
    `run`): for the many cases that fail before any stack, state or cloud is looked at."""
    from mlops_gitops.cli.main import main

    for key in list(os.environ):
        if key not in env:
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["mlops", *args])
        with pytest.raises(SystemExit) as exit_:
            main()
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["mlops", *args], int(exit_.value.code or 0), out, err)

    return run


def one_error(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 1, res.stdout + res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr
    return lines[0]


# ------------------------------------------------------------------------ which stack, which cloud
def test_a_plan_is_not_applied_to_another_stack(tmp_path: Path, planned: Path, cloud: Recorder, run) -> None:
    a = planned.parent
    b = make_stack(tmp_path, "stack-b", cloud)
    line = one_error(run(b, "apply", "../stack-a/a.plan"))
    assert line == (
        f"Error: ../stack-a/a.plan was made for stack {a.resolve()}/stack.yaml on the cloud; "
        f"this command is for {b.resolve()}/stack.yaml on the cloud"
    )
    # The same through --chdir and -f: the command's flags say which stack is in scope.
    line = one_error(run(tmp_path, "--chdir", "stack-b", "apply", "../stack-a/a.plan"))
    assert f"this command is for {b.resolve()}/stack.yaml" in line
    line = one_error(run(tmp_path, "-f", "stack-b/stack.yaml", "apply", "stack-a/a.plan"))
    assert f"this command is for {b.resolve()}/stack.yaml" in line
    # Another file in the same directory is another stack, even with the same content.
    (a / "copy.yaml").write_text((a / "stack.yaml").read_text())
    line = one_error(run(a, "-f", "copy.yaml", "apply", "a.plan"))
    assert f"this command is for {a.resolve()}/copy.yaml on the cloud" in line
    # Where there is no stack at all, the message says where the plan belongs.
    line = one_error(run(tmp_path, "apply", "stack-a/a.plan"))
    assert f"was made for stack {a.resolve()}/stack.yaml on the cloud; this command has no stack" in line
    assert cloud.requests == []
    assert not (a / ".mlops" / "state.json").exists() and not (b / ".mlops").exists(), "nothing applied"


@pytest.mark.parametrize(
    ("global_flags", "extra_env"),
    [(["--sandbox"], {}), ([], {"MLOPS_SANDBOX": "1"})],
    ids=["--sandbox", "MLOPS_SANDBOX"],
)
def test_a_cloud_plan_is_not_applied_with_sandbox_on(
    planned: Path, cloud: Recorder, run, global_flags: list[str], extra_env: dict[str, str]
) -> None:
    a = planned.parent
    line = one_error(run(a, *global_flags, "apply", "a.plan", extra_env=extra_env))
    here = f"{a.resolve()}/stack.yaml"
    assert (
        line
        == f"Error: a.plan was made for stack {here} on the cloud; this command is for {here} on the sandbox"
    )
    assert cloud.requests == [], "refused before any cloud call"
    assert not (a / ".mlops" / "sandbox").exists(), "no sandbox was started"
    assert not (a / ".mlops" / "state.json").exists(), "nothing applied"


def test_a_renamed_stack_is_refused_by_name(planned: Path, run) -> None:
    a = planned.parent
    text = (a / "stack.yaml").read_text()
    (a / "stack.yaml").write_text(text.replace("name: stack-a", "name: stack-z", 1))
    line = one_error(run(a, "apply", "a.plan"))
    assert line == "Error: a.plan was made for stack 'stack-a'; stack.yaml is now stack 'stack-z'"


def test_a_stack_that_no_longer_loads_with_the_plans_values_is_stale(
    planned: Path, cloud: Recorder, run
) -> None:
    # The stack's own error would ask for --var, which a saved plan refuses: say the stack changed.
    a = planned.parent
    text = (a / "stack.yaml").read_text()
    (a / "stack.yaml").write_text(
        text.replace("variables:\n", "variables:\n  owner: {}\n", 1).replace(
            "MODE: fast", 'OWNER: "${var.owner}"'
        )
    )
    line = one_error(run(a, "apply", "a.plan"))
    assert line.startswith("Error: a.plan: the stack changed since this plan was made (")
    assert line.endswith("); run plan again") and "owner" in line
    assert cloud.requests == []


def test_variables_in_the_environment_do_not_change_a_saved_plan(planned: Path, cloud: Recorder, run) -> None:
    # The plan holds every value: MLOPS_VAR_* at apply time is not what was reviewed. The apply goes
    # ahead (and meets the recorder), rather than failing the stack-changed check.
    res = run(planned.parent, "apply", "a.plan", extra_env={"MLOPS_VAR_api_key": "other"})
    assert res.returncode == 1
    assert "the stack changed" not in res.stderr and "recorder: no cloud here" in res.stderr
    assert cloud.requests, "applied to the cloud the command is for"


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--target", "model.iris"], "--target"),
        (["--var", "api_key=x", "--refresh-only"], "--var, --refresh-only"),
        (["--var-file", "vars.yaml"], "--var-file"),
    ],
)
def test_flags_that_would_change_a_saved_plan_are_refused(
    planned: Path, cloud: Recorder, run, flags: list[str], named: str
) -> None:
    line = one_error(run(planned.parent, "apply", "a.plan", *flags))
    assert line == (
        "Error: a.plan is a saved plan: it carries its own variables, targets and mode, "
        f"so {named} cannot be given with it"
    )
    assert cloud.requests == []


# ----------------------------------------------------------------------------- damaged plan files
@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One plan file for the tests that damage a copy of it: it is refused before any stack or
    cloud is looked at, so where it was made does not matter."""
    cloud = Recorder()
    try:
        a = make_stack(tmp_path_factory.mktemp("pristine"), "stack-a", cloud)
        res = subprocess.run(
            [MLOPS, "plan", "--out", "a.plan"],
            cwd=a,
            env=safe_env(cloud, a),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert res.returncode == 0, res.stderr
    finally:
        cloud.close()
    return a / "a.plan"


@pytest.fixture
def copied(pristine: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "a.plan"
    shutil.copyfile(pristine, dest)
    return dest


def _damage(planned: Path, how: str) -> str:
    """Damage the plan file; return what the error must say after `not a valid saved plan: `."""
    payload = json.loads(planned.read_text())
    text = planned.read_text()
    if how == "truncated":
        planned.write_text(text[: len(text) // 2])
        return "not JSON ("
    if how == "empty":
        planned.write_text("")
        return "not JSON ("
    if how == "binary":
        planned.write_bytes(b"\x1f\x8b\x08\x00\xff\xfe\xfd")
        return "not "
    if how == "list":
        planned.write_text("[]")
        return "expected a JSON object"
    if how == "no plan":
        del payload["plan"]
        expected = "plan: Field required"
    elif how == "no action":
        del payload["plan"]["resource_changes"][0]["action"]
        expected = "plan.resource_changes[0].action: Field required"
    elif how == "bad action":
        payload["plan"]["resource_changes"][1]["action"] = "explode"
        expected = "plan.resource_changes[1].action: Input should be"
    elif how == "serial text":
        payload["plan"]["state"]["serial"] = "3"
        expected = "plan.state.serial: Input should be a valid integer"
    elif how == "no stack digest":
        del payload["plan"]["stack"]["digest"]
        expected = "plan.stack.digest: Field required"
    elif how == "mode disagrees":
        payload["mode"] = "destroy"
        expected = "its mode and targets differ from its plan document's"
    elif how == "unknown key":
        payload["extra"] = 1
        expected = "extra: Extra inputs are not permitted"
    elif how == "secret in a bad place":
        payload["variables"] = [SECRET]
        expected = "variables: Input should be a valid dictionary"
    else:
        raise AssertionError(how)
    planned.write_text(json.dumps(payload))
    return expected


DAMAGES = [
    "truncated",
    "empty",
    "binary",
    "list",
    "no plan",
    "no action",
    "bad action",
    "serial text",
    "no stack digest",
    "mode disagrees",
    "unknown key",
    "secret in a bad place",
]


@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("command", [["show"], ["show", "--json"], ["apply"]], ids=" ".join)
def test_a_damaged_plan_file_is_one_clear_error(
    copied: Path, cloud: Recorder, in_process, how: str, command: list[str]
) -> None:
    expected = _damage(copied, how)
    line = one_error(in_process(copied.parent, *command, "a.plan"))
    assert line.startswith(f"Error: a.plan: not a valid saved plan: {expected}"), line
    assert SECRET not in line
    assert cloud.requests == []


@pytest.mark.parametrize(
    ("key", "value", "what"),
    [
        ("format", "mlops-gitops-plan/2", "plan file format mlops-gitops-plan/2"),
        ("format_version", "2", "plan document format 2"),
    ],
)
@pytest.mark.parametrize("command", ["show", "apply"])
def test_a_plan_from_a_newer_format_says_so(
    copied: Path, cloud: Recorder, in_process, key: str, value: str, what: str, command: str
) -> None:
    payload = json.loads(copied.read_text())
    (payload if key == "format" else payload["plan"])[key] = value
    payload["plan"]["tool"]["version"] = "9.0.0"
    payload["plan"]["resource_changes"] = "reshaped by the newer version"
    copied.write_text(json.dumps(payload))
    line = one_error(in_process(copied.parent, command, "a.plan"))
    assert line.startswith(f"Error: a.plan: {what} (made by mlops 9.0.0) is newer than this mlops ")
    assert line.endswith(": apply it with that mlops version, or plan again")
    assert cloud.requests == []


def test_an_unwritable_out_path_is_one_clear_error(tmp_path: Path, cloud: Recorder, run) -> None:
    a = make_stack(tmp_path, "stack-a", cloud)
    line = one_error(run(a, "plan", "--out", "missing/a.plan"))
    assert line == "Error: cannot write missing/a.plan: No such file or directory"


# ---------------------------------------------------------------------------------- secrets
def test_a_plan_file_is_readable_by_its_owner_only(planned: Path, env: dict[str, str]) -> None:
    a = planned.parent
    assert SECRET in planned.read_text(), "the file holds the values apply needs"
    assert stat.S_IMODE(planned.stat().st_mode) == 0o600
    # Over an existing world-readable file too, and whatever the umask.
    old = a / "old.plan"
    old.write_text("{}")
    old.chmod(0o644)
    res = subprocess.run(
        ["/bin/sh", "-c", 'umask 000 && exec "$0" plan --out old.plan', MLOPS],
        cwd=a,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert sorted(p.name for p in a.iterdir()) == [".mlops", "a.plan", "old.plan", "stack.yaml"], (
        "no temporary"
    )


def test_a_plan_file_is_never_readable_by_others_even_while_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_gitops import files
    seen: list[int] = []
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        seen.append(stat.S_IMODE(os.stat(src).st_mode))
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    old_umask = os.umask(0)  # the mode must not depend on a careful umask
    try:
        files.atomic_write(tmp_path / "p.plan", b"secret")
    finally:
        os.umask(old_umask)
    assert seen == [0o600], "the temporary file had mode 0600 before it held anything"
    assert stat.S_IMODE((tmp_path / "p.plan").stat().st_mode) == 0o600


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def test_show_never_prints_a_sensitive_value(planned: Path, run) -> None:
    a = planned.parent
    made = run(a, "plan")
    text = run(a, "show", "a.plan")
    raw = run(a, "show", "--json", "a.plan")
    for res in (made, text, raw):
        assert res.returncode == 0, res.stderr
        assert SECRET not in res.stdout + res.stderr
    assert "hunter2" not in text.stdout + raw.stdout
    assert re.search(r"\+ environment\.API_KEY +=\s\(sensitive\)\n", text.stdout), text.stdout
    assert re.search(r"\+ environment\.AUTH_HEADER +=\s\(sensitive\)\n", text.stdout)
    assert re.search(r'\+ environment\.MODE +=\s"fast"\n', text.stdout), "the rest is shown"
    doc = json.loads(raw.stdout)
    model = next(c for c in doc["resource_changes"] if c["address"] == "model.iris")
    assert model["after"]["environment"] == {
        "API_KEY": "(sensitive)",
        "AUTH_HEADER": "(sensitive)",
        "MODE": "fast",
    }
    by_path = {c["path"]: c for c in model["changes"]}
    assert by_path["environment.API_KEY"]["after"] == "(sensitive)"
    assert by_path["environment.API_KEY"]["sensitive"] is True
    assert not any(isinstance(v, str) and "hunter2" in v for v in _leaves(doc))


# ------------------------------------------------------------------ what "unchanged" means at apply
def _document(**overrides: Any) -> dict[str, Any]:
    from mlops_gitops.engine.plan import FieldChange, Plan, ResourceChange

    change = ResourceChange(
        address="schedule.retrain",
        kind="schedule",
        name="retrain",
        provider="sagemaker",
        action="update",
        before={"cron": "0 * * * *"},
        after={"cron": "30 * * * *"},
        changes=[FieldChange("cron", "0 * * * *", "30 * * * *")],
        notes=["next runs (UTC): 2026-11-30 10:30, 2026-11-30 11:30, 2026-11-30 12:30"],
    )
    plan = Plan(
        stack="s",
        stack_path="stack.yaml",
        stack_digest="d",
        provider="sagemaker",
        lineage="L",
        serial=4,
        changes=[change],
    )
    doc = plan.document()
    doc.update(overrides)
    return doc


def test_a_plan_made_again_later_is_still_the_saved_one() -> None:
    from mlops_gitops.cli.saved_plan import check_unchanged

    then = _document()
    now = _document(created_at="2030-01-01T00:00:00Z", warnings=["sub/stack.yaml:3:1: a warning"])
    now["stack"]["path"] = "sub/stack.yaml"  # the same file, named from elsewhere
    # A schedule's next runs move with the clock: commentary, not a change of the plan.
    now["resource_changes"][0]["notes"] = ["next runs (UTC): 2026-11-30 11:30, 2026-11-30 12:30"]
    check_unchanged(then, now)


@pytest.mark.parametrize(
    "change",
    ["attribute", "mode", "targets", "deposed", "new key"],
)
def test_any_difference_in_what_apply_would_do_is_stale(change: str) -> None:
    from mlops_gitops.cli.saved_plan import check_unchanged
    from mlops_gitops.errors import StateError

    then, now = _document(), _document()
    if change == "attribute":
        now["resource_changes"][0]["after"]["cron"] = "45 * * * *"
    elif change == "mode":
        now["mode"] = "destroy"
    elif change == "targets":
        now["targets"] = ["schedule.retrain"]
    elif change == "deposed":
        now["deposed"] = [{"address": "model.old", "kind": "model", "id": "old-1", "action": "delete"}]
    else:  # keys the engine adds later are compared without being named
        then["future"], now["future"] = [1], [2]
    with pytest.raises(StateError, match="the saved plan is stale: the cloud changed since it was made"):
        check_unchanged(then, now)
