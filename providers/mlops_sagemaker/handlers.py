"""The kinds the SageMaker provider manages through `KindHandler` modules (see kind.py)."""

from __future__ import annotations

from mlops_sagemaker.kind import KindHandler

HANDLERS: tuple[type[KindHandler], ...] = ()
