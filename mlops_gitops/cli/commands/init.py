"""`mlops init ci --github`: GitHub Actions workflows that plan every stack environment on pull
requests, apply it after merge and check it for drift on a schedule.

The workflows are rendered from templates/ci/github. What they need to know of each stack (its
directory, name, environments, provider, backend, variables without a default) is read from the
stack files as plain YAML: generating CI must work on a machine with no cloud SDK and no values
for the stack's variables."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mlops_gitops.errors import MlopsError
from mlops_gitops.stack.loader import STACK_FILES, find_stack_files

if TYPE_CHECKING:
    import jinja2

WORKFLOWS = ("mlops-plan.yml", "mlops-apply.yml", "mlops-drift.yml")
PYTHON_VERSION = "3.11"
# Daily, off the hour: scheduled workflows starting on the hour are the ones GitHub delays.
DRIFT_CRON = "17 6 * * *"

# The cloud whose credentials a state backend needs, and so which OIDC step runs; a provider
# says its own (`Provider.ci_login`).
BACKEND_CLOUDS = {"s3": "aws", "gcs": "google", "azureblob": "azure"}
# The extras of mlops-gitops (pyproject.toml) that install a backend's SDK; a provider names its
# own (`Provider.ci_extra`).
BACKEND_EXTRAS = ("s3", "gcs", "azureblob")
CLOUD_SETTINGS = {
    "aws": [("MLOPS_AWS_ROLE_ARN", "the IAM role the jobs assume through OIDC")],
    "google": [
        (
            "MLOPS_GCP_WORKLOAD_IDENTITY_PROVIDER",
            "projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER",
        ),
        ("MLOPS_GCP_SERVICE_ACCOUNT", "the service account the jobs impersonate"),
    ],
    "azure": [
        ("MLOPS_AZURE_CLIENT_ID", "the app registration or managed identity with federated credentials"),
        ("MLOPS_AZURE_TENANT_ID", "its tenant"),
        ("MLOPS_AZURE_SUBSCRIPTION_ID", "the subscription of the workspace and the state account"),
    ],
}
_WHOLE_VAR = re.compile(r"^\$\{\s*var\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BRANCH = re.compile(r"^[A-Za-z0-9._/-]+$")


@dataclass(frozen=True)
class Target:
    """One stack environment, as one entry of each workflow's matrix."""

    directory: str  # the stack's folder, relative to the repository root ("." for the root)
    name: str
    environment: str | None
    provider: str
    backend: str
    clouds: tuple[str, ...]
    extras: tuple[str, ...]
    aws_region: str  # "" when the stack file gives none the workflow can read
    required: tuple[str, ...]  # variables the stack file gives no value for here
    sensitive: frozenset[str]

    @property
    def id(self) -> str:
        return f"{self.name}-{self.environment}" if self.environment else self.name

    @property
    def label(self) -> str:
        return f"{self.name} ({self.environment})" if self.environment else self.name

    def matrix_entry(self) -> dict[str, Any]:
        return {
            "stack": self.directory,
            "name": self.name,
            "env": self.environment or "",
            "id": self.id,
            "label": self.label,
            # Stacks without environments apply in a GitHub environment named after the stack.
            "environment": self.environment or self.name,
            "extras": ",".join(self.extras),
            "aws": "aws" in self.clouds,
            "google": "google" in self.clouds,
            "azure": "azure" in self.clouds,
            "aws_region": self.aws_region,
            "required": " ".join(self.required),
        }


class _OwnOptionsFirst(click.Command):
    """A command whose own options win over the global ones of the same name, which every
    command is also given (its `--env` chooses environments to generate for, several of them,
    not the one environment a command acts on)."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        taken: set[str] = set()
        kept: list[click.Parameter] = []
        for param in self.params:  # its own first, then the global ones
            names = set(param.opts) | set(param.secondary_opts)
            if not names & taken:
                taken |= names
                kept.append(param)
        help_option = self.get_help_option(ctx)
        return [*kept, help_option] if help_option is not None else kept


@click.group()
def init() -> None:
    """Generate the files that run this repository's stacks in CI."""


@init.command("ci", cls=_OwnOptionsFirst)
@click.option("--github", is_flag=True, help="GitHub Actions workflows (the one CI system so far).")
@click.option(
    "--stack",
    "stacks",
    multiple=True,
    metavar="DIR",
    help="A stack's folder (repeatable; default: every stack file below the repository).",
)
@click.option(
    "--env",
    "envs",
    multiple=True,
    metavar="NAME",
    help="Only this environment of the stacks that declare environments (repeatable).",
)
@click.option(
    "--out",
    metavar="DIR",
    help="Where to write the workflows (default: .github/workflows of the repository).",
)
@click.option(
    "--branch", metavar="NAME", default="main", show_default=True, help="The branch whose pushes are applied."
)
@click.option("--force", is_flag=True, help="Overwrite workflows that exist.")
@click.pass_context
def ci(
    ctx: click.Context,
    github: bool,
    stacks: tuple[str, ...],
    envs: tuple[str, ...],
    out: str | None,
    branch: str,
    force: bool,
) -> None:
    """Write GitHub Actions workflows that plan the stacks on pull requests, apply them after
    merge and check them for drift.

    mlops-plan.yml plans each stack environment on a pull request (the plan in the job summary,
    plan.bin and plan.json as an artifact); mlops-apply.yml plans again after a push to the
    branch and applies exactly that plan, behind a GitHub environment named after the stack's
    environment; mlops-drift.yml runs `plan --refresh-only` daily and opens an issue on drift.
    Cloud credentials come through OIDC, chosen by each stack's provider and backend."""
    if not github:
        raise MlopsError("init ci: choose the CI system with --github (GitHub Actions, the one so far)")
    if not _BRANCH.match(branch):
        raise MlopsError(f"--branch {branch}: not a branch name")
    root = _repository_root(Path.cwd())
    # `mlops --env prod init ci` says the same as `mlops init ci --env prod`.
    chosen_envs = [*envs, *([ctx.find_root().params["env"]] if ctx.find_root().params.get("env") else [])]
    targets = _targets(root, _stack_files(root, stacks), chosen_envs)
    if not targets:
        raise MlopsError(f"--env {', '.join(chosen_envs)}: no chosen stack has these environments")
    out_dir = Path(out) if out else root / ".github" / "workflows"
    paths = [out_dir / name for name in WORKFLOWS]
    existing = [p for p in paths if p.exists()]
    if existing and not force:
        verb = "exists" if len(existing) == 1 else "exist"
        raise MlopsError(f"{', '.join(_shown(p) for p in existing)} already {verb}; --force overwrites")
    texts = render_workflows(targets, branch=branch)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in paths:
        path.write_text(texts[path.name], encoding="utf-8")
    for line in _report(paths, targets):
        click.echo(line)
    for warning in _warnings(targets):
        click.echo(f"Warning: {warning}", err=True)


def render_workflows(targets: list[Target], *, branch: str = "main") -> dict[str, str]:
    """The workflows' text, by file name."""
    from mlops_gitops import __version__

    document = {
        "entries": [t.matrix_entry() for t in targets],
        "clouds": sorted({c for t in targets for c in t.clouds}),
        "inputs": _inputs(targets),
        "version": __version__,
        "python_version": PYTHON_VERSION,
        "branch": branch,
        "cron": DRIFT_CRON,
    }
    env = _environment()
    return {name: env.get_template(f"github/{name}.j2").render(**document) for name in WORKFLOWS}


def _environment() -> jinja2.Environment:
    """Templates of YAML full of GitHub's `${{ }}` expressions: square-bracket delimiters leave
    those alone, where jinja2's `{{ }}` would take them for its own."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mlops_gitops.templates", "ci"),
        block_start_string="[%",
        block_end_string="%]",
        variable_start_string="[[",
        variable_end_string="]]",
        comment_start_string="[#",
        comment_end_string="#]",
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    # JSON strings, numbers and booleans are YAML too, with every character escaped as needed.
    env.filters["q"] = json.dumps
    env.filters["key"] = lambda name: name if _ENV_KEY.match(name) else json.dumps(name)
    env.filters["sq"] = lambda text: "'" + text.replace("'", "''") + "'"  # a GitHub expression string

    def script(name: str) -> str:
        # Shell scripts are included as they are, not rendered: `${x}` and `[ ]` are bash's.
        assert env.loader is not None
        return env.loader.get_source(env, f"github/scripts/{name}")[0].rstrip("\n")

    env.globals["script"] = script
    return env


def _inputs(targets: list[Target]) -> list[dict[str, str]]:
    """The job environment's entries bringing stack variables from GitHub variables or secrets."""
    names: dict[str, bool] = {}
    for t in targets:
        for name in t.required:
            names[name] = names.get(name, False) or name in t.sensitive
    return [
        {
            "variable": name,
            "env_name": f"MLOPS_INPUT_{name}",
            "context": "secrets" if sensitive else "vars",
            "setting": github_setting(name),
        }
        for name, sensitive in sorted(names.items())
    ]


def github_setting(variable: str) -> str:
    """The GitHub variable (or secret) holding a stack variable: GitHub's names are upper case
    letters, digits and underscores."""
    return "MLOPS_VAR_" + re.sub(r"[^A-Z0-9_]", "_", variable.upper())


def _repository_root(start: Path) -> Path:
    """The nearest folder holding `.git` (the workflows' paths are relative to the checkout),
    or `start` outside a repository."""
    for folder in [start, *start.parents]:
        if (folder / ".git").exists():
            return folder
    return start


def _stack_files(root: Path, chosen: tuple[str, ...]) -> list[Path]:
    if chosen:
        files = []
        for directory in chosen:
            folder = Path(directory).resolve()
            if not folder.is_relative_to(root.resolve()):
                raise MlopsError(f"--stack {directory}: outside the repository ({root})")
            found = next((folder / n for n in STACK_FILES if (folder / n).is_file()), None)
            if found is None:
                raise MlopsError(f"--stack {directory}: no stack file (stack.yaml) in it")
            files.append(found)
        return list(dict.fromkeys(files))  # a folder named twice is one stack
    files = find_stack_files(root)
    if not files:
        raise MlopsError(f"no stack file (stack.yaml) below {_shown(root)}")
    return files


def _targets(root: Path, files: list[Path], envs: list[str]) -> list[Target]:
    targets: list[Target] = []
    declared_envs: set[str] = set()
    for file in files:
        doc = _read(file)
        directory = file.parent.resolve().relative_to(root.resolve()).as_posix()
        environments = doc.get("environments")
        names = [str(e) for e in environments] if isinstance(environments, dict) else []
        declared_envs.update(names)
        chosen = [e for e in names if not envs or e in envs]
        if names and not chosen:
            continue
        for env in chosen or [None]:
            targets.append(_target(doc, directory or ".", env, fallback_name=file.parent.name))
    unknown = [e for e in envs if e not in declared_envs]
    if unknown:
        known = ", ".join(sorted(declared_envs)) or "none"
        raise MlopsError(f"--env {unknown[0]}: no chosen stack has this environment (they have: {known})")
    seen: dict[str, Target] = {}
    for t in targets:
        if t.id in seen and seen[t.id].directory != t.directory:
            raise MlopsError(
                f"{seen[t.id].directory} and {t.directory} are both stack {t.name!r}: the workflows name "
                "artifacts and concurrency groups after the stack: rename one, or choose stacks with --stack"
            )
        seen[t.id] = t
    return targets


def _read(file: Path) -> dict[str, Any]:
    import yaml

    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MlopsError(f"{_shown(file)}: cannot be read: {' '.join(str(exc).split())}") from None
    if not isinstance(doc, dict):
        raise MlopsError(f"{_shown(file)}: not a stack file (a YAML mapping)")
    return doc


def _target(doc: dict[str, Any], directory: str, env: str | None, *, fallback_name: str) -> Target:
    env_doc = _mapping(_mapping(doc.get("environments")).get(env)) if env else {}
    provider = _mapping(doc.get("provider"))
    provider_kind = next(iter(provider or _mapping(env_doc.get("provider"))), "")
    provider_settings = {
        **_mapping(provider.get(provider_kind)),
        **_mapping(_mapping(env_doc.get("provider")).get(provider_kind)),
    }
    backend = _mapping(env_doc.get("backend")) or _mapping(doc.get("backend")) or {"local": {}}
    backend_kind = next(iter(backend))
    declared = _mapping(doc.get("variables"))
    env_values = _mapping(env_doc.get("variables"))

    def value_of(setting: Any) -> str:
        """A setting's value when the stack file itself gives it (`${var.x}` with a default)."""
        if isinstance(setting, str) and (whole := _WHOLE_VAR.match(setting)):
            name = whole.group(1)
            setting = env_values.get(name, _mapping(declared.get(name)).get("default"))
        return setting if isinstance(setting, str) and "${" not in setting else ""

    login, extra, region_key = _ci_declarations(str(provider_kind))
    clouds = {login, BACKEND_CLOUDS.get(str(backend_kind))} - {None}
    region = ""
    if "aws" in clouds:
        region = value_of(provider_settings.get(region_key)) if region_key and login == "aws" else ""
        region = region or value_of(_mapping(backend.get("s3")).get("region"))
    required = tuple(
        str(name)
        for name, spec in declared.items()
        if _mapping(spec).get("default") is None and name not in env_values
    )
    return Target(
        directory=directory,
        name=str(doc.get("name") or fallback_name),
        environment=env,
        provider=str(provider_kind),
        backend=str(backend_kind),
        clouds=tuple(sorted(c for c in clouds if c)),
        extras=tuple(e for e in (extra, str(backend_kind) if backend_kind in BACKEND_EXTRAS else None) if e),
        aws_region=region,
        required=required,
        sensitive=frozenset(str(n) for n, s in declared.items() if _mapping(s).get("sensitive") is True),
    )


def _ci_declarations(provider: str) -> tuple[str | None, str | None, str | None]:
    """What the installed provider `provider` declares for CI (see `Provider.ci_login`); nothing
    for one not installed here (its stack's own plan will say so)."""
    from mlops_gitops import plugins

    try:
        cls = plugins.provider_class(provider)
    except MlopsError:
        return None, None, None
    return cls.ci_login, cls.ci_extra, cls.ci_region_key


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _report(paths: list[Path], targets: list[Target]) -> list[str]:
    lines = [f"Wrote {', '.join(_shown(p) for p in paths)} for:"]
    by_dir: dict[str, list[Target]] = {}
    for t in targets:
        by_dir.setdefault(t.directory, []).append(t)
    for directory, group in by_dir.items():
        envs = [t.environment for t in group if t.environment]
        lines.append(f"  {directory} ({group[0].name})" + (f": {', '.join(envs)}" if envs else ""))
    settings = [s for cloud in sorted({c for t in targets for c in t.clouds}) for s in CLOUD_SETTINGS[cloud]]
    if any("aws" in t.clouds and not t.aws_region for t in targets):
        settings.append(("MLOPS_AWS_REGION", "the AWS region, for stacks whose file names none"))
    secrets: list[tuple[str, str]] = []
    for item in _inputs(targets):
        users = sorted({t.label for t in targets for n in t.required if github_setting(n) == item["setting"]})
        entry = (item["setting"], f"stack variable {item['variable']} of {', '.join(users)}")
        (secrets if item["context"] == "secrets" else settings).append(entry)
    if settings:
        lines.append("Set these Actions variables (for the repository, or per GitHub environment):")
        lines += [f"  {name:<38} {what}" for name, what in settings]
    if secrets:
        lines.append("Set these Actions secrets:")
        lines += [f"  {name:<38} {what}" for name, what in secrets]
    environments = ", ".join(sorted({t.matrix_entry()["environment"] for t in targets}))
    lines.append(f"Applies run in these GitHub environments (give them required reviewers): {environments}")
    return lines


def _warnings(targets: list[Target]) -> list[str]:
    out: list[str] = []
    for t in targets:
        login, extra, _region = _ci_declarations(t.provider)
        if extra is None:
            out.append(
                f"{t.directory}: provider {t.provider!r} is no extra of mlops-gitops; add the package "
                "that provides it to the workflows' install step"
            )
        if login is None:
            out.append(f"{t.directory}: provider {t.provider!r} gets no cloud credentials step; add one")
        if t.backend == "local":
            out.append(
                f"{t.label}: state is in the local backend, which every CI run starts without; give "
                "the stack a remote backend (s3, gcs or azureblob)"
            )
    return list(dict.fromkeys(out))


def _shown(path: Path) -> str:
    """`path` relative to the current directory when below it, as the user would type it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)
