"""The machine types and accelerators Vertex AI serves online predictions on: one catalogue for
the provider's offline checks (`mlops validate`) and for the emulator, which refuses the rest as
Vertex does (INVALID_ARGUMENT).

Machine families follow Vertex's "machine types for prediction" list: general purpose (e2, n1,
n2, n2d, c2, c2d, c3) without accelerators; n1 machines with a choice of older NVIDIA GPUs; and
the accelerator-optimized families (a2, a3, g2, ct5lp) whose machine type fixes the GPU (or TPU)
model and count. Pure data and arithmetic, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Accelerators:
    """What a machine type may (or, for accelerator-optimized ones, must) carry."""

    counts: dict[str, tuple[int, ...]]  # accelerator type -> the counts allowed
    required: bool = False


_NONE = Accelerators({})
_N1_GPUS = Accelerators(
    {
        "NVIDIA_TESLA_T4": (1, 2, 4),
        "NVIDIA_TESLA_V100": (1, 2, 4, 8),
        "NVIDIA_TESLA_P4": (1, 2, 4),
        "NVIDIA_TESLA_P100": (1, 2, 4),
    }
)


def _family(prefix: str, sizes: tuple[int, ...]) -> list[str]:
    return [f"{prefix}-{size}" for size in sizes]


def _fixed(accelerator: str, count: int) -> Accelerators:
    return Accelerators({accelerator: (count,)}, required=True)


_GENERAL: dict[str, tuple[int, ...]] = {
    "e2-standard": (2, 4, 8, 16, 32),
    "e2-highmem": (2, 4, 8, 16),
    "e2-highcpu": (2, 4, 8, 16, 32),
    "n2-standard": (2, 4, 8, 16, 32, 48, 64, 80),
    "n2-highmem": (2, 4, 8, 16, 32, 48, 64, 80),
    "n2-highcpu": (2, 4, 8, 16, 32, 48, 64, 80, 96),
    "n2d-standard": (2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224),
    "n2d-highmem": (2, 4, 8, 16, 32, 48, 64, 80, 96),
    "n2d-highcpu": (2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224),
    "c2-standard": (4, 8, 16, 30, 60),
    "c2d-standard": (2, 4, 8, 16, 32, 56, 112),
    "c2d-highmem": (2, 4, 8, 16, 32, 56, 112),
    "c2d-highcpu": (2, 4, 8, 16, 32, 56, 112),
    "c3-standard": (4, 8, 22, 44, 88, 176),
    "c3-highmem": (4, 8, 22, 44, 88, 176),
    "c3-highcpu": (4, 8, 22, 44, 88, 176),
}
_N1: dict[str, tuple[int, ...]] = {
    "n1-standard": (2, 4, 8, 16, 32),
    "n1-highmem": (2, 4, 8, 16, 32),
    "n1-highcpu": (2, 4, 8, 16, 32),
}
# g2-standard-N: the number of L4 GPUs each size comes with.
_G2_GPUS = {4: 1, 8: 1, 12: 1, 16: 1, 24: 2, 32: 1, 48: 4, 96: 8}

MACHINE_TYPES: dict[str, Accelerators] = {
    **{m: _NONE for family, sizes in _GENERAL.items() for m in _family(family, sizes)},
    **{m: _N1_GPUS for family, sizes in _N1.items() for m in _family(family, sizes)},
    **{f"a2-highgpu-{n}g": _fixed("NVIDIA_TESLA_A100", n) for n in (1, 2, 4, 8)},
    "a2-megagpu-16g": _fixed("NVIDIA_TESLA_A100", 16),
    **{f"a2-ultragpu-{n}g": _fixed("NVIDIA_A100_80GB", n) for n in (1, 2, 4, 8)},
    **{f"a3-highgpu-{n}g": _fixed("NVIDIA_H100_80GB", n) for n in (1, 2, 4, 8)},
    "a3-megagpu-8g": _fixed("NVIDIA_H100_MEGA_80GB", 8),
    "a3-ultragpu-8g": _fixed("NVIDIA_H200_141GB", 8),
    **{f"g2-standard-{size}": _fixed("NVIDIA_L4", n) for size, n in _G2_GPUS.items()},
    **{f"ct5lp-hightpu-{n}t": _fixed("TPU_V5_LITEPOD", n) for n in (1, 4, 8)},
}
ACCELERATOR_TYPES = tuple(sorted({a for spec in MACHINE_TYPES.values() for a in spec.counts}))
FAMILIES = (
    "e2-standard/highmem/highcpu, n1-standard/highmem/highcpu (with NVIDIA T4, V100, P4 or P100), "
    "n2-*, n2d-*, c2-standard, c2d-*, c3-*, a2-highgpu/megagpu/ultragpu, a3-*, g2-standard, "
    "ct5lp-hightpu"
)

# SageMaker instance families and the Vertex family of the same shape (vCPU to memory ratio).
_SAGEMAKER_FAMILY = {"m": "n1-standard", "t": "e2-standard", "c": "n1-highcpu", "r": "n1-highmem"}
_SAGEMAKER_SIZE = re.compile(r"^ml\.([a-z]+)\d+[a-z]*\.(\d*)(x?large|medium)$")
_SAGEMAKER_VCPUS = {"medium": 1, "large": 2, "xlarge": 4}


def _sagemaker_equivalent(instance_type: str) -> str | None:
    """`ml.m5.xlarge` -> `n1-standard-4`: the same vCPU count in the family of the same shape;
    GPU instances map to the machine a GPU of their class comes on."""
    m = _SAGEMAKER_SIZE.match(instance_type)
    if m is None:
        return None
    family, multiple, size = m.groups()
    if family in ("g", "p"):
        return "g2-standard-4" if family == "g" else "a2-highgpu-1g"
    vcpus = _SAGEMAKER_VCPUS[size] * (int(multiple) if multiple else 1)  # 2xlarge: 8 vCPUs
    vertex_family = _SAGEMAKER_FAMILY.get(family[0])
    if vertex_family is None:
        return None
    sizes = _N1[vertex_family] if vertex_family in _N1 else _GENERAL[vertex_family]
    return f"{vertex_family}-{min(sizes, key=lambda s: (abs(s - vcpus), s))}"


def _nearest_size(machine_type: str) -> str | None:
    """`n1-standard-7` -> `n1-standard-8`: a known family, with a size it does not come in."""
    family, _, size = machine_type.rpartition("-")
    sizes = {**_GENERAL, **_N1}.get(family)
    if sizes is None or not size.isdigit():
        return None
    return f"{family}-{min(sizes, key=lambda s: (abs(s - int(size)), s))}"


def machine_problem(machine_type: str) -> str | None:
    """Why Vertex AI cannot serve on `machine_type`, with the closest real one; None if it can."""
    if machine_type in MACHINE_TYPES:
        return None
    guess = _sagemaker_equivalent(machine_type) or _nearest_size(machine_type)
    if guess is None:
        import difflib  # only for a machine type that is wrong

        close = difflib.get_close_matches(machine_type, list(MACHINE_TYPES), n=1, cutoff=0.75)
        guess = close[0] if close else None
    if guess is None:
        return f"{machine_type} is not a Vertex AI machine type for predictions; the families are: {FAMILIES}"
    message = f"{machine_type} is not a Vertex AI machine type (did you mean {guess}?)"
    if machine_type.startswith("ml."):
        message += "; it is a SageMaker instance type, and Vertex AI serves on Compute Engine machine types"
    return message


def accelerator_problem(machine_type: str, accelerator: str | None, count: int) -> str | None:
    """Why `machine_type` cannot carry `count` accelerators of type `accelerator` (None: none);
    None when it can. Assumes `machine_type` is known (see `machine_problem`)."""
    spec = MACHINE_TYPES.get(machine_type)
    if spec is None:
        return None
    if accelerator is None:
        if spec.required:
            (wanted, (n,)) = next(iter(spec.counts.items()))
            return f"{machine_type} comes with {n} {wanted}: give that accelerator"
        return None
    if accelerator not in ACCELERATOR_TYPES:
        import difflib

        close = difflib.get_close_matches(accelerator, ACCELERATOR_TYPES, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else f" (one of {', '.join(ACCELERATOR_TYPES)})"
        return f"{accelerator} is not a Vertex AI accelerator type{hint}"
    if not spec.counts:
        return f"{machine_type} takes no accelerators: use an n1, a2, a3 or g2 machine for GPUs"
    if accelerator not in spec.counts:
        return f"{machine_type} takes {', '.join(sorted(spec.counts))}, not {accelerator}"
    if count not in spec.counts[accelerator]:
        allowed = ", ".join(map(str, spec.counts[accelerator]))
        return f"{machine_type} takes {allowed} {accelerator} per replica, not {count}"
    return None
