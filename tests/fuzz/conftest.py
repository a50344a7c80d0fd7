"""The fuzz suite's environment: no credentials, no sandbox, no variables from the environment,
and every connection that would leave the machine refused and recorded (tests assert none was
tried). MLOPS_DEBUG stays off, as for a user: an unexpected exception shows as `internal error`,
which the checks refuse (MLOPS_FUZZ_DEBUG=1 shows its traceback, to debug a failing case)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))  # fuzz_kit, beside this file (importlib mode)
from fuzz_kit import PROFILE, NetworkGuard, network_guard

settings.load_profile(PROFILE)

_CLOUD_PREFIXES = ("AWS_", "MLOPS_", "GOOGLE_", "CLOUDSDK_", "AZURE_", "ARM_", "MSI_", "IDENTITY_")


@pytest.fixture(scope="module", autouse=True)
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetworkGuard]:
    home = tmp_path_factory.mktemp("no-cloud-config")
    debug = os.environ.get("MLOPS_FUZZ_DEBUG")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(_CLOUD_PREFIXES) or name in ("NO_COLOR", "MLOPS_PLAN_URL"):
                mp.delenv(name)
        if debug:
            mp.setenv("MLOPS_DEBUG", "1")
        mp.setenv("NO_COLOR", "1")
        mp.setenv("AWS_ACCESS_KEY_ID", "fuzz")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "fuzz")
        mp.setenv("AWS_CONFIG_FILE", str(home / "aws-config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials"))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        mp.setenv("AWS_MAX_ATTEMPTS", "1")
        mp.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(home / "no-gcp-credentials.json"))
        with network_guard() as guard:
            yield guard
        assert guard.attempts == [], f"the suite reached for the network: {guard.attempts}"
