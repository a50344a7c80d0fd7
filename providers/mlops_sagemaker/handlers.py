"""The kinds the SageMaker provider manages through `KindHandler` modules (see kind.py)."""

from __future__ import annotations

from mlops_sagemaker.kind import KindHandler
from mlops_sagemaker.monitors import MonitorHandler
from mlops_sagemaker.schedules import ScheduleHandler

HANDLERS: tuple[type[KindHandler], ...] = (MonitorHandler, ScheduleHandler)
