"""What `mlops status` asks of Azure ML beyond `read`: a deep link to each object in Azure ML
studio (see `Provider.console_url`). The live status is the core's default: the endpoint's
`provisioning_state` (Succeeded, Updating, Failed...), as `read` records it.

Links: `https://ml.azure.com/endpoints/realtime/<name>/detail?wsid=<workspace id>` for an
endpoint (and a monitor, which watches one), `https://ml.azure.com/model/<name>:<version>/details/overview?wsid=...`
for a model version; schedules get none. A `base` replaces `https://ml.azure.com`.

Not reported yet: deployments' instance counts beyond the serving view, a monitor's last signal
run and a schedule's last job (the studio shows them; the SDK's `jobs.list` would)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from mlops_azureml.provider import AzureMLProvider

DEFAULT_BASE = "https://ml.azure.com"


def console_url(
    provider: AzureMLProvider, kind: str, attributes: Mapping[str, Any], base: str | None = None
) -> str | None:
    cfg = provider.cfg
    origin = (base or DEFAULT_BASE).rstrip("/")
    wsid = (
        f"?wsid=/subscriptions/{cfg.subscription_id}/resourceGroups/{quote(cfg.resource_group)}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{quote(cfg.workspace)}"
    )
    name = attributes.get("endpoint") if kind == "monitor" else attributes.get("name")
    if not isinstance(name, str) or not name:
        return None
    if kind in ("endpoint", "monitor"):
        return f"{origin}/endpoints/realtime/{quote(name)}/detail{wsid}"
    if kind == "model" and attributes.get("version"):
        return f"{origin}/model/{quote(name)}:{quote(str(attributes['version']))}/details/overview{wsid}"
    return None
