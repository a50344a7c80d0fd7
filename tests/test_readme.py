"""The README's stack file reference is a real stack: it must keep validating as the schema moves."""

import json
import re
from pathlib import Path

from mlops_gitops.stack.loader import load_stack
from mlops_gitops.workspace import open_workspace

README = Path(__file__).resolve().parents[1] / "README.md"


def test_reference_stack_in_readme_validates(tmp_path: Path) -> None:
    text = README.read_text()
    block = re.search(r"```yaml\n(apiVersion: mlops-gitops/v1\nname: fraud-detection .*?)```", text, re.S)
    assert block, "the README's stack file reference is gone"
    (tmp_path / "stack.yaml").write_text(block.group(1))
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "fraud-train.json").write_text(
        json.dumps(
            {
                "Version": "2020-12-01",
                "Parameters": [{"Name": "epochs", "Type": "Integer", "DefaultValue": 10}],
                "Steps": [{"Name": "Train", "Type": "Training", "Arguments": {}}],
            }
        )
    )
    stack = load_stack(
        tmp_path / "stack.yaml",
        cli_vars={"execution_role": "arn:aws:iam::123456789012:role/x", "api_key": "k"},
        environ={},
    )
    ws = open_workspace(stack)
    assert {r.kind for r in stack.resources.values()} == {"model", "endpoint", "monitor", "schedule"}
    assert ws.provider.name == "sagemaker"
