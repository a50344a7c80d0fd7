import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fraud_dir(tmp_path: Path) -> Path:
    """A private copy of the fraud-detection example, so tests can edit it."""
    dest = tmp_path / "fraud-detection"
    shutil.copytree(ROOT / "stacks" / "fraud-detection", dest, ignore=shutil.ignore_patterns(".mlops"))
    return dest
