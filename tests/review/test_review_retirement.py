"""A retirement in the pull-request comment: its own section in ML terms, the retire action in
the verdict and the diagram (which Mermaid's parser accepts), from the plan document only."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mermaid_check import assert_parses, mermaid_blocks

from mlops_gitops.render.markdown import render_markdown
from mlops_gitops.testing import MemoryCloud, MemoryProvider

_spec = importlib.util.spec_from_file_location(
    "retirement_cases", Path(__file__).parents[1] / "engine" / "test_retirement.py"
)
assert _spec is not None and _spec.loader is not None
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)


def test_the_comment_shows_the_retirement_and_the_diagram_parses(tmp_path: Path) -> None:
    provider = MemoryProvider(cloud=MemoryCloud())
    cases.run(provider, tmp_path, cases.STACK, apply=True)
    doc, _ = cases.run(provider, tmp_path, cases.RETIRED, apply=False)
    text = render_markdown(doc)
    assert "2 to destroy, 1 to retire" in text
    section = text.split("### Retirements", 1)[1].split("###", 1)[0]
    assert "model fraud-v7 will be retired: stops serving 10% of fraud-api (variant green)" in section
    assert "monitor fraud-v7-drift removed" in section and "artifacts kept; archived" in section
    assert "why: drifted; replaced by fraud-v8 (decided by ml-platform)" in section
    blocks = mermaid_blocks(text)
    assert len(blocks) == 1 and '["R model.fraud-v7"]' in blocks[0]
    assert "classDef retire " in blocks[0] and "traffic 90/10 → 100" in blocks[0]
    assert_parses(*blocks)
