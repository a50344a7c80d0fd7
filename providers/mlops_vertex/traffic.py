"""Traffic splits on Vertex AI.

Vertex AI splits an endpoint's traffic between its deployed models in whole percentages that must
add up to exactly 100, and sends none to a deployed model missing from the split: the splits of
the core's traffic arithmetic (`mlops_gitops.rollout`), which every split sent here follows. Stack
weights are relative (`weight: 2` and `weight: 1` mean 67/33): `percentages` normalises them,
and every intermediate split of a rollout is a `blend` of the live split and the stack's."""

from __future__ import annotations

from mlops_gitops.rollout import TOTAL, Step, blend, percentages, steps

__all__ = ["TOTAL", "Step", "blend", "percentages", "steps"]
