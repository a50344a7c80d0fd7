"""`mlops init ci --github` as a user runs it: the installed command on a repository of two stacks,
the workflows it writes read back as YAML and linted with actionlint (shellcheck included), and
their jobs run here step by step on the sandbox, the way a runner runs their `run:` steps."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from mlops_gitops import plugins
from mlops_gitops.cli.commands.init import BACKEND_EXTRAS
from mlops_gitops.review.marker import find as find_marker

# The fake of GitHub's REST API the plan job's comment step talks to (tests/review).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "review"))
from github_fake import FakeGitHub, serve

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MLOPS = str(BIN / "mlops")
ACTIONLINT = shutil.which("actionlint", path=str(BIN)) or shutil.which("actionlint")
SHELLCHECK = shutil.which("shellcheck", path=str(BIN)) or shutil.which("shellcheck")
ROLE = "arn:aws:iam::123456789012:role/mlops-sandbox-sagemaker"
WORKFLOWS = ("mlops-plan.yml", "mlops-apply.yml", "mlops-drift.yml")

FRAUD = """\
apiVersion: mlops-gitops/v1
name: fraud
provider:
  sagemaker:
    region: us-east-1
    role_arn: ${var.execution_role}
backend:
  s3: {bucket: acme-mlops-state, key: fraud/state.json, region: us-east-1}
variables:
  execution_role: {description: IAM role SageMaker assumes}
  api_key: {sensitive: true}
  version: {default: v1}
environments:
  dev:
    variables: {api_key: dev-key, version: v2}
  prod: {}
models:
  scorer:
    artifact: s3://ml-artifacts-demo/fraud/${var.version}/model.tar.gz
    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3
    environment: {API_KEY: "${var.api_key}"}
"""

CHURN = """\
apiVersion: mlops-gitops/v1
name: churn
provider:
  vertex: {project: acme-ml, location: europe-west4, staging_bucket: gs://acme-ml-staging}
backend:
  gcs: {bucket: acme-mlops-state, prefix: churn}
models:
  churn-xgb:
    artifact: gs://acme-ml-artifacts/churn/xgb/2026-11/
    image: {framework: xgboost, version: "1.7"}
"""


def mlops(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLOPS, *args], cwd=cwd, capture_output=True, text=True, timeout=180)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout with a SageMaker stack (dev and prod, state in S3) and a Vertex AI one (state
    in GCS). `.git` marks its root, for mlops as for actionlint."""
    root = tmp_path / "ml-stacks"
    (root / ".git").mkdir(parents=True)
    for folder, text in (("stacks/fraud", FRAUD), ("stacks/churn", CHURN)):
        (root / folder).mkdir(parents=True)
        (root / folder / "stack.yaml").write_text(text)
    return root


def generate(repo: Path, *args: str) -> dict[str, dict[str, Any]]:
    """`mlops init ci --github ARGS` in `repo`, its workflows parsed."""
    done = mlops(repo, "init", "ci", "--github", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    folder = repo / ".github" / "workflows"
    return {name: yaml.safe_load((folder / name).read_text()) for name in WORKFLOWS}


def triggers(workflow: dict[str, Any]) -> Any:
    return workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as a boolean


def only_job(workflow: dict[str, Any]) -> dict[str, Any]:
    (job,) = workflow["jobs"].values()
    return job


def entries(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return only_job(workflow)["strategy"]["matrix"]["include"]


def step(job: dict[str, Any], step_id: str) -> dict[str, Any]:
    (found,) = [s for s in job["steps"] if s.get("id") == step_id]
    return found


def uses(job: dict[str, Any], action: str) -> dict[str, Any]:
    (found,) = [s for s in job["steps"] if s.get("uses", "").startswith(action + "@")]
    return found


# --- what the workflows say ------------------------------------------------------------------


def test_one_matrix_entry_per_stack_environment_in_every_workflow(repo: Path) -> None:
    workflows = generate(repo)
    for name, workflow in workflows.items():
        got = [(e["stack"], e["env"], e["id"], e["extras"]) for e in entries(workflow)]
        assert got == [
            ("stacks/churn", "", "churn", "vertex,gcs"),
            ("stacks/fraud", "dev", "fraud-dev", "sagemaker,s3"),
            ("stacks/fraud", "prod", "fraud-prod", "sagemaker,s3"),
        ], name
        assert workflow["env"]["NO_COLOR"] == "1"
        assert workflow["defaults"] == {"run": {"shell": "bash"}}
        assert only_job(workflow)["strategy"]["fail-fast"] is False
        # Every action pinned to a major version.
        for s in only_job(workflow)["steps"]:
            if "uses" in s:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", s["uses"]), s["uses"]
    assert triggers(workflows["mlops-plan.yml"]) == {"pull_request": None}
    assert triggers(workflows["mlops-apply.yml"]) == {
        "push": {"branches": ["main"]},
        "workflow_dispatch": None,
    }
    assert triggers(workflows["mlops-drift.yml"]) == {
        "schedule": [{"cron": "17 6 * * *"}],
        "workflow_dispatch": None,
    }
    assert workflows["mlops-plan.yml"]["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "pull-requests": "write",
    }
    assert workflows["mlops-apply.yml"]["permissions"] == {"contents": "read", "id-token": "write"}
    assert workflows["mlops-drift.yml"]["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "issues": "write",
    }


def test_the_commands_each_job_runs(repo: Path) -> None:
    workflows = generate(repo)
    plan = only_job(workflows["mlops-plan.yml"])
    env_flag = '${STACK_ENV:+--env "$STACK_ENV"}'
    assert f'mlops --chdir "$STACK_DIR" {env_flag} validate' in step(plan, "validate")["run"]
    assert f"{env_flag} plan --out plan.bin --detailed-exitcode" in step(plan, "plan")["run"]
    assert f'{env_flag} show --json plan.bin > "$STACK_DIR/plan.json"' in step(plan, "show")["run"]
    upload = step(plan, "upload")
    assert upload["uses"] == "actions/upload-artifact@v4"
    assert upload["with"]["name"] == "mlops-plan-${{ matrix.id }}"
    assert upload["with"]["path"].splitlines() == [
        "${{ matrix.stack }}/plan.bin",
        "${{ matrix.stack }}/plan.json",
        "${{ matrix.stack }}/plan.txt",
    ]
    # The plan in Markdown, posted as the pull request's comment of the stack environment, then
    # the guard rules: a violation fails the check after the comment is up.
    ids = [s.get("id") for s in plan["steps"]]
    assert ids[-4:] == ["upload", "pr-comment", "comment", "policy"]
    assert f"{env_flag} show --format markdown plan.bin" in step(plan, "pr-comment")["run"]
    assert step(plan, "pr-comment")["env"] == {"MLOPS_PLAN_URL": "${{ steps.upload.outputs.artifact-url }}"}
    assert step(plan, "comment")["env"] == {
        "GITHUB_TOKEN": "${{ github.token }}",
        "BODY_FILE": "${{ steps.pr-comment.outputs.body-file }}",
    }
    assert 'mlops comment --body-file "$BODY_FILE"' in step(plan, "comment")["run"]
    assert 'mlops policy --policy "$policy" "$STACK_DIR/plan.json"' in step(plan, "policy")["run"]

    apply = only_job(workflows["mlops-apply.yml"])
    ids = [s.get("id") for s in apply["steps"]]
    assert ids.index("plan") < ids.index("apply") == len(ids) - 1
    assert f"{env_flag} apply plan.bin" in step(apply, "apply")["run"]
    assert step(apply, "apply")["env"] == {"PLAN_CHANGES": "${{ steps.plan.outputs.changes }}"}
    assert apply["if"] == "github.ref == 'refs/heads/main'"

    drift = only_job(workflows["mlops-drift.yml"])
    assert f"{env_flag} plan --refresh-only --detailed-exitcode" in step(drift, "drift")["run"]
    issue = step(drift, "drift-issue")
    assert issue["env"]["GH_TOKEN"] == "${{ github.token }}"
    assert "gh issue list" in issue["run"] and "gh issue create" in issue["run"]
    assert "gh issue edit" in issue["run"]


def test_oidc_credentials_follow_each_stacks_provider_and_backend(repo: Path) -> None:
    for workflow in generate(repo).values():
        job = only_job(workflow)
        aws = uses(job, "aws-actions/configure-aws-credentials")
        assert aws["if"] == "matrix.aws"
        assert aws["uses"].endswith("@v4")
        assert aws["with"] == {
            "role-to-assume": "${{ vars.MLOPS_AWS_ROLE_ARN }}",
            "aws-region": "${{ matrix.aws_region || vars.MLOPS_AWS_REGION }}",
        }
        google = uses(job, "google-github-actions/auth")
        assert google["if"] == "matrix.google" and google["uses"].endswith("@v2")
        assert google["with"] == {
            "workload_identity_provider": "${{ vars.MLOPS_GCP_WORKLOAD_IDENTITY_PROVIDER }}",
            "service_account": "${{ vars.MLOPS_GCP_SERVICE_ACCOUNT }}",
        }
        assert not [s for s in job["steps"] if s.get("uses", "").startswith("azure/login@")]
        clouds = {e["id"]: (e["aws"], e["google"], e["azure"], e["aws_region"]) for e in entries(workflow)}
        assert clouds == {
            "churn": (False, True, False, ""),
            "fraud-dev": (True, False, False, "us-east-1"),
            "fraud-prod": (True, False, False, "us-east-1"),
        }
        # Credentials come before the first command that may need them.
        ids = [s.get("id") or s.get("uses") for s in job["steps"]]
        assert ids.index(aws["uses"]) < ids.index("validate")


def test_a_backend_on_another_cloud_gets_that_clouds_credentials_too(repo: Path) -> None:
    (repo / "stacks/churn/stack.yaml").write_text(
        CHURN.replace(
            "gcs: {bucket: acme-mlops-state, prefix: churn}", "s3: {bucket: acme-state, key: churn}"
        )
    )
    (repo / "stacks/vision").mkdir()
    (repo / "stacks/vision/stack.yaml").write_text(
        "apiVersion: mlops-gitops/v1\nname: vision\n"
        "provider: {azureml: {subscription_id: s, resource_group: ml, workspace: vision}}\n"
        "backend: {azureblob: {account_url: 'https://acme.blob.core.windows.net', container: s, blob: v}}\n"
    )
    done = mlops(repo, "init", "ci", "--github")
    assert done.returncode == 0, done.stderr
    workflow = yaml.safe_load((repo / ".github/workflows/mlops-plan.yml").read_text())
    by_id = {e["id"]: e for e in entries(workflow)}
    assert (by_id["churn"]["aws"], by_id["churn"]["google"], by_id["churn"]["extras"]) == (
        True,
        True,
        "vertex,s3",
    )
    # No region in the stack file for AWS: the repository variable gives it.
    assert by_id["churn"]["aws_region"] == ""
    assert "MLOPS_AWS_REGION" in done.stdout
    assert (by_id["vision"]["azure"], by_id["vision"]["extras"]) == (True, "azureml,azureblob")
    azure = uses(only_job(workflow), "azure/login")
    assert azure["if"] == "matrix.azure" and azure["uses"] == "azure/login@v2"
    assert azure["with"] == {
        "client-id": "${{ vars.MLOPS_AZURE_CLIENT_ID }}",
        "tenant-id": "${{ vars.MLOPS_AZURE_TENANT_ID }}",
        "subscription-id": "${{ vars.MLOPS_AZURE_SUBSCRIPTION_ID }}",
    }
    assert "provider 'azureml'" not in done.stderr  # installed: its extra and login are known


def test_a_provider_not_installed_is_named_with_what_to_add(repo: Path) -> None:
    (repo / "stacks/edge").mkdir()
    (repo / "stacks/edge/stack.yaml").write_text(
        "apiVersion: mlops-gitops/v1\nname: edge\nprovider: {onprem: {rack: r1}}\n"
        "backend: {s3: {bucket: acme-state, key: edge}}\n"
    )
    done = mlops(repo, "init", "ci", "--github")
    assert done.returncode == 0, done.stderr
    assert (
        "stacks/edge: provider 'onprem' is no extra of mlops-gitops; add the package that provides it "
        "to the workflows' install step"
    ) in done.stderr
    assert "stacks/edge: provider 'onprem' gets no cloud credentials step; add one" in done.stderr


def test_concurrency_groups_keep_applies_of_a_stack_environment_in_line(repo: Path) -> None:
    workflows = generate(repo)

    def groups(name: str) -> dict[str, Any]:
        job = only_job(workflows[name])
        contexts = {"github": {"event": {"pull_request": {"number": 7}}}}
        return {
            e["id"]: (
                evaluate(job["concurrency"]["group"], {**contexts, "matrix": e}),
                job["concurrency"]["cancel-in-progress"],
            )
            for e in entries(workflows[name])
        }

    assert groups("mlops-apply.yml") == {
        "churn": ("mlops-churn", False),
        "fraud-dev": ("mlops-fraud-dev", False),
        "fraud-prod": ("mlops-fraud-prod", False),
    }
    # Plans and drift checks never share the applies' groups: one waiting there would cancel
    # the apply waiting there.
    assert groups("mlops-plan.yml")["fraud-prod"] == ("mlops-plan-fraud-prod-7", True)
    assert groups("mlops-drift.yml")["fraud-prod"] == ("mlops-drift-fraud-prod", False)
    # Each apply waits behind its GitHub environment's protection rules.
    job = only_job(workflows["mlops-apply.yml"])
    assert {
        e["id"]: evaluate(job["environment"], {"matrix": e}) for e in entries(workflows["mlops-apply.yml"])
    } == {
        "churn": "churn",
        "fraud-dev": "dev",
        "fraud-prod": "prod",
    }


def test_variables_without_a_value_in_the_stack_file_come_from_github(repo: Path) -> None:
    done = mlops(repo, "init", "ci", "--github")
    workflow = yaml.safe_load((repo / ".github/workflows/mlops-apply.yml").read_text())
    # dev gives api_key a value in the stack file; prod does not, and it is sensitive.
    assert {e["id"]: e["required"] for e in entries(workflow)} == {
        "churn": "",
        "fraud-dev": "execution_role",
        "fraud-prod": "execution_role api_key",
    }
    job_env = only_job(workflow)["env"]
    assert job_env["MLOPS_INPUT_execution_role"] == "${{ vars.MLOPS_VAR_EXECUTION_ROLE }}"
    assert job_env["MLOPS_INPUT_api_key"] == "${{ secrets.MLOPS_VAR_API_KEY }}"
    assert not [k for k in job_env if k.startswith("MLOPS_VAR_")]
    assert re.search(r"MLOPS_VAR_EXECUTION_ROLE +stack variable execution_role of fraud \(dev\)", done.stdout)
    assert "Set these Actions secrets:\n  MLOPS_VAR_API_KEY" in done.stdout
    assert "MLOPS_AWS_ROLE_ARN" in done.stdout and "MLOPS_GCP_SERVICE_ACCOUNT" in done.stdout
    assert "GitHub environments (give them required reviewers): churn, dev, prod" in done.stdout


def test_refuses_to_overwrite_workflows_without_force(repo: Path) -> None:
    generate(repo)
    plan = repo / ".github/workflows/mlops-plan.yml"
    drift = repo / ".github/workflows/mlops-drift.yml"
    plan.write_text("# edited by hand\n")
    drift.unlink()
    refused = mlops(repo, "init", "ci", "--github")
    assert refused.returncode == 1
    assert refused.stderr == (
        "Error: .github/workflows/mlops-plan.yml, .github/workflows/mlops-apply.yml already exist; "
        "--force overwrites\n"
    )
    # All or nothing: the missing workflow is not written either.
    assert plan.read_text() == "# edited by hand\n" and not drift.exists()
    forced = mlops(repo, "init", "ci", "--github", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "name: mlops plan" in plan.read_text() and drift.exists()


def test_choosing_stacks_environments_and_the_branch(repo: Path) -> None:
    workflows = generate(repo, "--stack", "stacks/fraud", "--env", "prod", "--branch", "release")
    for workflow in workflows.values():
        assert [e["id"] for e in entries(workflow)] == ["fraud-prod"]
    assert triggers(workflows["mlops-apply.yml"])["push"] == {"branches": ["release"]}
    # From a subfolder too: paths stay relative to the checkout, the workflows go to its root.
    sub = repo / "stacks"
    done = mlops(sub, "--env", "dev", "init", "ci", "--github", "--force")
    assert done.returncode == 0, done.stderr
    plan = yaml.safe_load((repo / ".github/workflows/mlops-plan.yml").read_text())
    assert [(e["stack"], e["env"]) for e in entries(plan)] == [("stacks/churn", ""), ("stacks/fraud", "dev")]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ([], "Error: init ci: choose the CI system with --github (GitHub Actions, the one so far)\n"),
        (
            ["--github", "--env", "qa"],
            "Error: --env qa: no chosen stack has this environment (they have: dev, prod)\n",
        ),
        (["--github", "--stack", "stacks"], "Error: --stack stacks: no stack file (stack.yaml) in it\n"),
        (["--github", "--branch", "a b"], "Error: --branch a b: not a branch name\n"),
    ],
)
def test_refusals_are_one_line(repo: Path, args: list[str], error: str) -> None:
    done = mlops(repo, "init", "ci", *args)
    assert (done.returncode, done.stderr) == (1, error)
    assert not (repo / ".github").exists()


def test_warns_of_state_kept_on_the_runner(repo: Path) -> None:
    (repo / "stacks/churn/stack.yaml").write_text(
        "\n".join(line for line in CHURN.splitlines() if "backend" not in line and "gcs:" not in line)
    )
    done = mlops(repo, "init", "ci", "--github")
    assert done.returncode == 0
    assert (
        "Warning: churn: state is in the local backend, which every CI run starts without; give the "
        "stack a remote backend (s3, gcs or azureblob)\n"
    ) in done.stderr


def test_the_extras_named_are_the_packages() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = {plugins.provider_class(name).ci_extra for name in plugins.available()}
    assert set(BACKEND_EXTRAS) | {"azureml", "sagemaker", "vertex"} == set(BACKEND_EXTRAS) | (named - {None})
    assert set(BACKEND_EXTRAS) | (named - {None}) <= set(extras)


# --- actionlint ------------------------------------------------------------------------------


def actionlint(cwd: Path, *files: str) -> subprocess.CompletedProcess[str]:
    if ACTIONLINT is None:
        pytest.fail("actionlint is not installed: pip install -e '.[test]'")
    # actionlint runs shellcheck on every `run:` script when it finds one on PATH.
    args = [] if SHELLCHECK else ["-shellcheck="]
    env = {**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}
    return subprocess.run(
        [ACTIONLINT, "-no-color", *args, *files],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_actionlint_finds_problems_where_there_are_some(tmp_path: Path) -> None:
    # The check of the checks: a lint that passes everything would pass the tests below too.
    (tmp_path / ".git").mkdir()
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n        with: {fetch_depth: 1}\n"
        "      - run: echo $1\n"
    )
    done = actionlint(tmp_path, "broken.yml")
    assert done.returncode == 1
    assert 'input "fetch_depth" is not defined in action "actions/checkout@v4"' in done.stdout
    if SHELLCHECK:
        assert "SC2086" in done.stdout


def test_generated_workflows_pass_actionlint(repo: Path) -> None:
    generate(repo)
    done = actionlint(repo, *(f".github/workflows/{name}" for name in WORKFLOWS))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_repositorys_own_workflows_pass_actionlint() -> None:
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / ".github/workflows").glob("*.y*ml"))
    if files:
        done = actionlint(ROOT, *files)
        assert (done.returncode, done.stdout) == (0, ""), done.stdout


def readme_action_example() -> str:
    """The workflow of the README's "Running in CI" that uses the composite action."""
    section = (ROOT / "README.md").read_text().split("## Running in CI", 1)[1].split("\n## ", 1)[0]
    (example,) = [b for b in re.findall(r"```yaml\n(.*?)```", section, re.S) if "mlops-gitops@v1" in b]
    return example


def test_the_action_and_the_readme_workflow_using_it_pass_actionlint(tmp_path: Path) -> None:
    # actionlint checks a local action's inputs and outputs against its action.yml where a
    # workflow uses it: the README's example, pointed at this checkout's action.
    (tmp_path / ".git").mkdir()
    shutil.copy(ROOT / "action.yml", tmp_path / "action.yml")
    (tmp_path / ".github/workflows").mkdir(parents=True)
    example = readme_action_example().replace("your-org/mlops-gitops@v1", "./")
    assert example.count("uses: ./") == 3
    (tmp_path / ".github/workflows/example.yml").write_text(example)
    done = actionlint(tmp_path, ".github/workflows/example.yml")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    # ... but not the scripts of a composite action's steps: shellcheck gets them here.
    if SHELLCHECK is None:
        pytest.fail("shellcheck is not installed: pip install -e '.[test]'")
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    for s in action["runs"]["steps"]:
        if "run" in s:
            assert s["shell"] == "bash" and "${{" not in s["run"], s["name"]
            script = tmp_path / "step.sh"
            script.write_text(s["run"])
            checked = subprocess.run([SHELLCHECK, "-s", "bash", str(script)], capture_output=True, text=True)
            assert checked.returncode == 0, f"{s['name']}: {checked.stdout}"


def test_the_action_runs_the_scripts_the_workflows_run(repo: Path) -> None:
    workflows = generate(repo)
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert set(action["inputs"]) == {
        "command",
        "stack",
        "env",
        "python-version",
        "extras",
        "comment",
        "github-token",
    }
    action_steps = {s["id"]: s for s in action["runs"]["steps"] if "id" in s}
    jobs = {name: only_job(w) for name, w in workflows.items()}
    for step_id, workflow in [
        ("validate", "mlops-plan.yml"),
        ("plan", "mlops-plan.yml"),
        ("show", "mlops-plan.yml"),
        ("pr-comment", "mlops-plan.yml"),
        ("comment", "mlops-plan.yml"),
        ("policy", "mlops-plan.yml"),
        ("plan", "mlops-apply.yml"),
        ("apply", "mlops-apply.yml"),
        ("drift", "mlops-drift.yml"),
        ("drift-issue", "mlops-drift.yml"),
    ]:
        assert action_steps[step_id]["run"] == step(jobs[workflow], step_id)["run"], step_id
    # Posting the comment is the action's choice (`comment: true`), its token the caller's.
    assert action_steps["comment"]["if"] == "inputs.command == 'plan' && inputs.comment == 'true'"
    assert action_steps["comment"]["env"]["GITHUB_TOKEN"] == "${{ inputs.github-token }}"
    upload = step(jobs["mlops-plan.yml"], "upload")
    assert action_steps["upload"]["uses"] == upload["uses"]
    assert (
        action_steps["upload"]["with"]["path"].replace("inputs.stack", "matrix.stack")
        == upload["with"]["path"]
    )


# --- the jobs, run here ----------------------------------------------------------------------

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_PROPERTY = re.compile(r"[A-Za-z_][\w-]*(\.[\w-]+)*")


def evaluate(text: str, contexts: dict[str, Any]) -> str:
    """`text` with its `${{ }}` expressions evaluated, as the runner does for the property paths
    (`matrix.stack`, `steps.plan.outputs.changes`) the jobs' `env:` use; a missing one is ''."""

    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        assert _PROPERTY.fullmatch(expression), f"not a property path: {expression!r}"
        found: Any = contexts
        for part in expression.split("."):
            found = found.get(part) if isinstance(found, dict) else None
        if isinstance(found, bool):
            return "true" if found else "false"
        return "" if found is None else str(found)

    return _EXPRESSION.sub(value, text)


def read_commands_file(path: Path) -> dict[str, str]:
    """A $GITHUB_OUTPUT or $GITHUB_ENV file: `name=value` lines and `name<<DELIMITER` blocks."""
    values: dict[str, str] = {}
    lines = iter(path.read_text().splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block: list[str] = []
            for inner in lines:
                if inner == delimiter:
                    break
                block.append(inner)
            values[name] = "\n".join(block)
        elif "=" in line:
            name, _, text = line.partition("=")
            values[name] = text
    return values


@dataclass
class StepRun:
    id: str
    returncode: int
    output: str  # stdout and stderr, interleaved
    outputs: dict[str, str]


@dataclass
class JobRun:
    steps: list[StepRun] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # the `uses:` steps, which need GitHub

    def step(self, step_id: str) -> StepRun:
        (found,) = [s for s in self.steps if s.id == step_id]
        return found

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.steps]


def run_job(
    workflow: dict[str, Any],
    entry_id: str,
    *,
    workspace: Path,
    runner_temp: Path,
    variables: dict[str, str],
    secrets: dict[str, str] | None = None,
    path: tuple[Path, ...] = (),
    environ: dict[str, str] | None = None,
) -> JobRun:
    """The workflow's job for one matrix entry, its `run:` steps in order in bash as the runner
    starts them (`shell: bash`), each with the environment of the workflow, the job, $GITHUB_ENV
    and the step; `uses:` steps are skipped. As on GitHub, a failing step ends the job."""
    assert workflow["defaults"]["run"]["shell"] == "bash"
    job = only_job(workflow)
    (entry,) = [e for e in entries(workflow) if e["id"] == entry_id]
    contexts: dict[str, Any] = {
        "matrix": entry,
        "vars": variables,
        "secrets": secrets or {},
        "steps": {},
        "github": {"token": "local-token", "repository": "acme/ml-stacks"},
    }
    runner_temp.mkdir(parents=True, exist_ok=True)
    summary, github_env = runner_temp / "step-summary.md", runner_temp / "github-env"
    summary.touch()
    github_env.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "GITHUB_", "AWS_", "NO_COLOR"))}
    env.update(
        PATH=os.pathsep.join([*map(str, path), str(BIN), os.environ.get("PATH", "")]),
        CI="true",
        GITHUB_ACTIONS="true",
        GITHUB_WORKSPACE=str(workspace),
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_ENV=str(github_env),
        GITHUB_SERVER_URL="https://github.com",
        GITHUB_REPOSITORY="acme/ml-stacks",
        GITHUB_RUN_ID="4242",
        RUNNER_TEMP=str(runner_temp),
        # The sandbox stands in for the cloud, and the venv for `pip install` from PyPI: every
        # requirement is already satisfied, so pip needs no index.
        MLOPS_SANDBOX="1",
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        **(environ or {}),
    )
    for scope in (workflow.get("env") or {}, job.get("env") or {}):
        env.update({k: evaluate(str(v), contexts) for k, v in scope.items()})
    run = JobRun()
    for index, s in enumerate(job["steps"]):
        if "uses" in s:
            run.skipped.append(s["uses"])
            continue
        assert "if" not in s, f"{s.get('id')}: a run step's condition is not evaluated here"
        # Values reach the scripts through env only: no expression in a script to inject into.
        assert "${{" not in s["run"], s.get("id")
        outputs = runner_temp / f"output-{index}"
        outputs.write_text("")
        script = runner_temp / f"step-{index}.sh"
        script.write_text(s["run"])
        step_env = {
            **env,
            **read_commands_file(github_env),
            **{k: evaluate(str(v), contexts) for k, v in (s.get("env") or {}).items()},
            "GITHUB_OUTPUT": str(outputs),
        }
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env=step_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=300,
        )
        step_id = s.get("id", f"step-{index}")
        contexts["steps"][step_id] = {"outputs": read_commands_file(outputs)}
        run.steps.append(
            StepRun(step_id, done.returncode, done.stdout, contexts["steps"][step_id]["outputs"])
        )
        if done.returncode != 0:
            break
    return run


@pytest.fixture
def sandboxed(repo: Path) -> Iterator[Path]:
    """`repo`, and the sandbox of its SageMaker stack stopped after the test."""
    yield repo
    mlops(repo, "--chdir", "stacks/fraud", "sandbox", "down")


def test_the_plan_job_runs_step_by_step_on_the_sandbox(sandboxed: Path, tmp_path: Path) -> None:
    repo = sandboxed
    workflow = generate(repo)["mlops-plan.yml"]
    # The repository's guard rules: the model the plan creates has no `team` tag.
    (repo / ".mlops-policy.yaml").write_text("rules:\n  - deny: destroy\n  - required_tags: [team]\n")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 12}}))
    with serve(FakeGitHub(token="local-token")) as github:  # the job's github.token
        github.add(12, "LGTM")
        run = run_job(
            workflow,
            "fraud-dev",
            workspace=repo,
            runner_temp=tmp_path / "runner",
            variables={"MLOPS_VAR_EXECUTION_ROLE": ROLE},
            environ={"GITHUB_API_URL": github.url, "GITHUB_EVENT_PATH": str(event), "NO_PROXY": "127.0.0.1"},
        )
    assert run.ids == [
        "install",
        "variables",
        "validate",
        "plan",
        "show",
        "pr-comment",
        "comment",
        "policy",
    ], run.steps[-1].output
    assert all(s.returncode == 0 for s in run.steps[:-1]), run.steps[-1].output
    assert run.skipped == [
        "actions/checkout@v4",
        "actions/setup-python@v5",
        "aws-actions/configure-aws-credentials@v4",
        "google-github-actions/auth@v2",
        "actions/upload-artifact@v4",
    ]
    # The plan has changes (exit code 2), which the job takes for success.
    assert run.step("plan").outputs == {"exitcode": "2", "changes": "true"}
    stack = repo / "stacks/fraud"
    # The files the upload step sends.
    assert (stack / "plan.bin").stat().st_mode & 0o777 == 0o600
    document = json.loads((stack / "plan.json").read_text())
    assert [(c["address"], c["action"]) for c in document["resource_changes"]] == [("model.scorer", "create")]
    text = (stack / "plan.txt").read_text()
    assert 'model "scorer"' in text and "Plan: 1 to add, 0 to change, 0 to destroy." in text
    assert "/fraud/v2/model.tar.gz" in text  # dev's version, from the stack file
    summary = (tmp_path / "runner/step-summary.md").read_text()
    assert summary.startswith("### Plan: fraud (dev)\n\n`stacks/fraud`: changes (exit code 2)\n\n````text\n")
    assert text in summary
    # The comment body, in Markdown, marked for fraud (dev), posted to the pull request.
    body = Path(run.step("pr-comment").outputs["body-file"]).read_text()
    marker = find_marker(body)
    assert marker is not None and (marker.stack, marker.environment) == ("fraud", "dev")
    assert body.startswith(marker.line()) and "model.scorer" in body
    (posted,) = [c for c in github.on(12) if c["body"] != "LGTM"]
    assert posted["body"] == body
    assert f"Created comment {posted['id']} on pull request #12" in run.step("comment").output
    # The policy fails the check, naming the resource and the rule, in the log and the summary.
    violation = "Violation: model.scorer: has no tag team [rule 2: required_tags: [team]]"
    assert run.steps[-1].returncode == 1 and violation in run.steps[-1].output
    assert "#### Policy `.mlops-policy.yaml`: failed" in summary and violation in summary


def test_a_missing_github_variable_is_named_before_any_plan(repo: Path, tmp_path: Path) -> None:
    workflow = generate(repo)["mlops-plan.yml"]
    run = run_job(workflow, "fraud-prod", workspace=repo, runner_temp=tmp_path / "runner", variables={})
    assert run.ids == ["install", "variables"]
    assert run.steps[-1].returncode == 1
    assert (
        "::error::stack variable execution_role has no value: set MLOPS_VAR_EXECUTION_ROLE in the "
        "repository's or the environment's variables (secrets, for a sensitive one)"
    ) in run.steps[-1].output


FAKE_GH = """\
#!{python}
# Stands in for the GitHub CLI: records each call, and answers `gh issue list` from the issues
# in $FAKE_GH_ISSUES, applying the one filter the drift step uses.
import json, os, sys
args = sys.argv[1:]
assert os.environ["GH_TOKEN"] and os.environ["GH_REPO"] == "acme/ml-stacks", "gh needs these"
body = ""
if "--body-file" in args:
    body = open(args[args.index("--body-file") + 1]).read()
with open(os.environ["FAKE_GH_LOG"], "a") as log:
    log.write(json.dumps({{"args": args, "body": body}}) + "\\n")
if args[:2] == ["issue", "list"]:
    assert args[args.index("--jq") + 1] == ".[] | select(.title == env.TITLE) | .number"
    assert args[args.index("--state") + 1] == "open"
    for issue in json.load(open(os.environ["FAKE_GH_ISSUES"])):
        if issue["title"] == os.environ["TITLE"]:
            print(issue["number"])
"""


def test_the_apply_and_drift_jobs_run_step_by_step_on_the_sandbox(sandboxed: Path, tmp_path: Path) -> None:
    repo = sandboxed
    workflows = generate(repo)
    variables = {"MLOPS_VAR_EXECUTION_ROLE": ROLE}

    def job(name: str, runner: str, **kwargs: Any) -> JobRun:
        return run_job(
            workflows[name],
            "fraud-dev",
            workspace=repo,
            runner_temp=tmp_path / runner,
            variables=variables,
            **kwargs,
        )

    applied = job("mlops-apply.yml", "apply-1")
    assert applied.ids == ["install", "variables", "validate", "plan", "apply"], applied.steps[-1].output
    assert applied.steps[-1].returncode == 0, applied.steps[-1].output
    summary = (tmp_path / "apply-1/step-summary.md").read_text()
    # The plan is in the summary before the apply's own output.
    assert summary.index("### Plan to apply: fraud (dev)") < summary.index("#### Apply: exit code 0")
    assert "Plan: 1 to add" in summary
    urls = json.loads((repo / "stacks/fraud/.mlops/sandbox/sandbox.json").read_text())["urls"]
    sagemaker = boto3.client(
        "sagemaker",
        region_name="us-east-1",
        endpoint_url=urls["sagemaker"],
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )
    (model,) = sagemaker.list_models()["Models"]
    # Nothing left to apply: the next push plans no change and applies nothing.
    again = job("mlops-apply.yml", "apply-2")
    assert again.step("plan").outputs == {"exitcode": "0", "changes": "false"}
    assert "No changes: nothing to apply." in again.step("apply").output

    bin_dir, log, issues = tmp_path / "fake-bin", tmp_path / "gh.log", tmp_path / "issues.json"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH.format(python=sys.executable))
    (bin_dir / "gh").chmod(0o755)
    issues.write_text("[]")
    fake = {"path": (bin_dir,), "environ": {"FAKE_GH_LOG": str(log), "FAKE_GH_ISSUES": str(issues)}}

    def gh_calls() -> list[dict[str, Any]]:
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        log.unlink(missing_ok=True)
        return calls

    clean = job("mlops-drift.yml", "drift-1", **fake)
    assert clean.ids[-2:] == ["drift", "drift-issue"] and clean.steps[-1].returncode == 0
    assert clean.step("drift").outputs == {"exitcode": "0"}
    assert [c["args"][:2] for c in gh_calls()] == [["issue", "list"]]

    # Someone deletes the model by hand: drift. The job fails, after opening an issue.
    sagemaker.delete_model(ModelName=model["ModelName"])
    drifted = job("mlops-drift.yml", "drift-2", **fake)
    assert drifted.step("drift").outputs == {"exitcode": "2"}
    assert drifted.steps[-1].id == "drift-issue" and drifted.steps[-1].returncode == 1
    assert (
        '::error::drift in stacks/fraud (dev): see the issue "Drift: fraud (dev)"' in drifted.steps[-1].output
    )
    listed, created = gh_calls()
    assert listed["args"][:2] == ["issue", "list"]
    assert created["args"][:4] == ["issue", "create", "--title", "Drift: fraud (dev)"]
    drift_text = (repo / "stacks/fraud/drift.txt").read_text()
    assert "model.scorer" in drift_text and drift_text in created["body"]
    assert "https://github.com/acme/ml-stacks/actions/runs/4242" in created["body"]

    # Still drifted with the issue open: the issue is updated, not opened again.
    issues.write_text(json.dumps([{"number": 12, "title": "Drift: fraud (dev)"}]))
    job("mlops-drift.yml", "drift-3", **fake)
    assert [c["args"][:3] for c in gh_calls()] == [["issue", "list", "--state"], ["issue", "edit", "12"]]

    # Drift undone by the next apply: the check finds none and closes the issue.
    assert job("mlops-apply.yml", "apply-3").steps[-1].returncode == 0
    assert len(sagemaker.list_models()["Models"]) == 1
    job("mlops-drift.yml", "drift-4", **fake)
    assert [c["args"][:3] for c in gh_calls()] == [["issue", "list", "--state"], ["issue", "close", "12"]]


# --- packaging -------------------------------------------------------------------------------


def test_package_data_names_every_ci_template() -> None:
    # As setuptools reads package-data: globs, `**` recursive, relative to the package's folder.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folder = ROOT / config["package-dir"]["mlops_gitops.templates"]
    patterns = config["package-data"]["mlops_gitops.templates"]
    shipped = {Path(f) for pattern in patterns for f in glob.glob(str(folder / pattern), recursive=True)}
    templates = {p for p in (folder / "ci").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert templates and templates <= shipped


def test_the_wheel_ships_the_ci_templates(tmp_path: Path) -> None:
    import setuptools

    # The project's SPDX `license` needs setuptools 77 (the test extra asks for it); a build
    # environment of its own would need the network.
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.fail(f"setuptools {setuptools.__version__} is too old: pip install -e '.[test]'")
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", ".mlops", "*.egg-info")
    for part in ("mlops_gitops", "templates", "providers"):
        shutil.copytree(ROOT / part, source / part, ignore=ignore)
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / part, source / part)
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    built = subprocess.run(
        [*pip_wheel, "-q", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        n.removeprefix("mlops_gitops/templates/") for n in names if n.startswith("mlops_gitops/templates/ci/")
    }
    expected = {
        str(p.relative_to(source / "templates")) for p in (source / "templates/ci").rglob("*") if p.is_file()
    }
    assert shipped == expected and "ci/github/mlops-plan.yml.j2" in shipped
