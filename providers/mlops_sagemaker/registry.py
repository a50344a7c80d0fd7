"""The SageMaker model registry: models registered as Model Package versions, and endpoint variants
that deploy a registry version instead of a model of the stack.

Registering. A model with `registry: {group, approval}` is registered as a new version of the Model
Package Group (created, and tagged with the model's address, if absent: the stack owns a group
only if it created it). The version's inference specification is the model's image, artifact
and environment. An approval change updates the version in place; a new artifact replaces the
model, which registers a new version. The registry is the archive: versions stay in it when their
model is replaced (`<group>@latest-approved` must still find the old one while the new version
awaits approval), when it moves to another group or stops being registered, and when the model
is removed from the stack. Only `mlops destroy` deletes a model's versions, and then its group,
if the stack created it and nothing else is registered in it (`unregister`).

Archiving. A retired model (`retired: {archive: true}`, the default) has its version archived:
ModelApprovalStatus `Rejected`, so `<group>@latest-approved` no longer names it and no variant
deploys it without `allow_unapproved`, and ModelLifeCycle `{Stage: Archived, StageStatus:
Retired}` (the stage and status of SageMaker's predefined staging templates), the reason as its
StageDescription: Studio's model registry shows the version rejected and archived. Its tags get
the retirement tags too. The version itself, its artifact and its Model stay. Un-retiring gives
the version the stack's approval back and the stage `Restored` (SageMaker has no call that
clears a version's stage). The `archived` attribute reads the stage: only `Archived` is ours to
manage, so a version moved to another stage in Studio is not drift.

Deploying. `model_package: <group>@<version>` or `<group>@latest-approved` on a variant resolves
at plan time (ListModelPackages; latest-approved is the highest Approved version) and the plan
shows the concrete version. The endpoint owns one SageMaker Model per such variant, created from
the package (`Containers=[{ModelPackageName: arn}]`) and named after the endpoint, the variant,
the package and the execution role, so a new version means a new model and a new
EndpointConfig. A version that is not Approved is refused unless the variant allows it.

The functions before `Registry` are pure; `Registry` does the I/O."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from mlops_gitops.errors import ProviderError
from mlops_gitops.ownership import TAGS
from mlops_gitops.provider import UNKNOWN
from mlops_gitops.stack import retire
from mlops_gitops.stack.schema import Registry as RegistrySpec
from mlops_gitops.stack.schema import Variant
from mlops_sagemaker import translate
from mlops_sagemaker.client import Clients, NotFoundError, call, collect

APPROVED = "Approved"
PENDING = "PendingManualApproval"  # a new version's status when the stack gives none
REJECTED = "Rejected"  # an archived version's: what keeps it from being deployed
ARCHIVED_STAGE, ARCHIVED_STATUS = "Archived", "Retired"
RESTORED_STAGE = "Restored"  # an un-archived version's: the API cannot remove a stage
LATEST_APPROVED = "latest-approved"
# SageMaker reports a missing package or group as a ValidationException with one of these.
_ABSENT = re.compile(r"does not exist|not found|could not find", re.IGNORECASE)


class ResolveError(ValueError):
    """A `model_package` reference that names no version."""


# ----------------------------------------------------------------------------- references
@dataclass(frozen=True)
class PackageRef:
    """`<group>@<version>`, or `<group>@latest-approved` (version None)."""

    group: str
    version: int | None

    @classmethod
    def parse(cls, text: str) -> PackageRef:
        group, _, which = text.partition("@")
        return cls(group, None if which == LATEST_APPROVED else int(which))

    def __str__(self) -> str:
        return f"{self.group}@{self.version if self.version is not None else LATEST_APPROVED}"


@dataclass(frozen=True)
class PackageVersion:
    version: int
    arn: str
    approval: str


@dataclass(frozen=True)
class Planned:
    """A version a model of the stack registers, with the approval the plan gives it; `version`
    is None while it is not registered yet (a new model, or one being replaced)."""

    version: int | None
    approval: str


def versions_from_summaries(summaries: Iterable[Mapping[str, Any]]) -> list[PackageVersion]:
    """ListModelPackages summaries -> versions, lowest first. The API sorts by name or creation
    time only, and names sort "10" before "9"."""
    found = [
        PackageVersion(int(s["ModelPackageVersion"]), s["ModelPackageArn"], s.get("ModelApprovalStatus", ""))
        for s in summaries
        if s.get("ModelPackageVersion") is not None
    ]
    return sorted(found, key=lambda v: v.version)


def planned_versions(group: str, refs: Mapping[str, Mapping[str, Any]]) -> list[Planned]:
    """What the stack's models registering into `group` will look like after this apply."""
    out = []
    for address, attrs in refs.items():
        if address.startswith("model.") and attrs.get("package_group") == group:
            version = attrs.get("package_version")
            out.append(Planned(version if isinstance(version, int) else None, str(attrs.get("approval"))))
    return out


def resolve(ref: PackageRef, versions: list[PackageVersion], planned: list[Planned]) -> PackageVersion | None:
    """The version `ref` names once this apply's registrations and approvals are made, or None
    when that depends on a version not registered yet (known after apply)."""
    by_number = {v.version: v for v in versions}
    for p in planned:
        if p.version is not None and p.version in by_number:
            by_number[p.version] = replace(by_number[p.version], approval=p.approval)
    registering = [p for p in planned if p.version is None]
    if ref.version is None:
        if any(p.approval == APPROVED for p in registering):
            return None
        approved = [v for v in by_number.values() if v.approval == APPROVED]
        if not approved:
            raise ResolveError(
                f"{ref}: model package group {ref.group} has no Approved version{_listing(versions)}"
            )
        return max(approved, key=lambda v: v.version)
    if ref.version in by_number:
        return by_number[ref.version]
    if registering and ref.version > max(by_number, default=0):
        return None
    raise ResolveError(
        f"{ref}: model package group {ref.group} has no version {ref.version}{_listing(versions)}"
    )


def _listing(versions: list[PackageVersion]) -> str:
    if not versions:
        return " (it has no versions, or does not exist)"
    shown = ", ".join(f"{v.version} {v.approval}" for v in versions[-5:])
    return f" (versions: {'…, ' if len(versions) > 5 else ''}{shown})"


def refusal(ref: PackageRef, found: PackageVersion, allow_unapproved: bool) -> str | None:
    """Why deploying `found` is refused, or None if it may be deployed."""
    if found.approval == APPROVED or allow_unapproved:
        return None
    return (
        f"{ref} is version {found.version} of model package group {ref.group}, and its approval "
        f"status is {found.approval}: only Approved versions are deployed (approve it, or set "
        "allow_unapproved: true on the variant)"
    )


def package_model_name(endpoint: str, variant: str, package_arn: str, role: str) -> str:
    """`<endpoint>-<variant>-<8 hex>`: the SageMaker Model an endpoint makes from a package.
    Deterministic, so the plan shows it; new with the package or the role, so a new version is
    deployed as a new model beside the old one."""
    digest = hashlib.sha256(json.dumps([endpoint, variant, package_arn, role]).encode()).hexdigest()[:8]
    return f"{f'{endpoint}-{variant}'[: translate.MAX_NAME - 9]}-{digest}"


def variant_source(
    variant: Variant, endpoint: str, found: PackageVersion | None, role: str
) -> dict[str, Any]:
    """The attributes that say what a `model_package` variant deploys (UNKNOWN until resolved)."""
    source: dict[str, Any] = {
        "model": package_model_name(endpoint, variant.name, found.arn, role) if found else UNKNOWN,
        "model_package": variant.model_package,
        "model_package_arn": found.arn if found else UNKNOWN,
        "model_package_version": found.version if found else UNKNOWN,
    }
    if variant.allow_unapproved:
        source["allow_unapproved"] = True
    return source


def variant_from_arn(arn: str) -> dict[str, Any] | None:
    """The `model_package` attributes of a variant whose model was made from package `arn`
    (an endpoint read without a recorded source: imported, or changed outside mlops)."""
    parts = arn.partition(":model-package/")[2].split("/")
    if len(parts) != 2 or not parts[1].isdigit():
        return None  # an unversioned package: not a registry version
    group, version = parts[0], int(parts[1])
    return {"model_package": f"{group}@{version}", "model_package_arn": arn, "model_package_version": version}


def group_arn(package_arn: str) -> str:
    head, _, rest = package_arn.partition(":model-package/")
    return f"{head}:model-package-group/{rest.split('/')[0]}"


# ------------------------------------------------------------------------------ registration
def model_attributes(
    spec: RegistrySpec, prior: Mapping[str, Any] | None, *, archived: bool = False
) -> dict[str, Any]:
    """A registered model's registry attributes. `prior` is the model's refreshed attributes when
    it keeps its name (not replaced): its version is carried while it stays in the same group.
    An `archived` version is rejected, whatever the stack's approval (see the module docstring)."""
    carried: Mapping[str, Any] = {}
    if prior is not None and prior.get("package_group") == spec.group and prior.get("package_arn"):
        carried = prior
    attrs: dict[str, Any] = {
        "package_group": spec.group,
        "package_group_owned": carried.get("package_group_owned", UNKNOWN),
        "package_arn": carried.get("package_arn", UNKNOWN),
        "package_version": carried.get("package_version", UNKNOWN),
        "approval": REJECTED if archived else spec.approval or PENDING,
        "archived": archived,
    }
    if spec.description:
        attrs["package_description"] = spec.description
    return attrs


def package_request(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """CreateModelPackage for a model's attributes: a new version in its group."""
    container: dict[str, Any] = {"Image": attrs["image"], "ModelDataUrl": attrs["artifact"]}
    if attrs.get("environment"):
        container["Environment"] = dict(attrs["environment"])
    request: dict[str, Any] = {
        "ModelPackageGroupName": attrs["package_group"],
        "InferenceSpecification": {"Containers": [container]},
        "ModelApprovalStatus": attrs["approval"],
        "Tags": translate.tag_list(attrs.get("tags", {})),
    }
    if attrs.get("package_description"):
        request["ModelPackageDescription"] = attrs["package_description"]
    if attrs.get("archived"):  # registered while retired: archived from the start
        request["ModelLifeCycle"] = life_cycle(attrs)
    return request


def life_cycle(attrs: Mapping[str, Any]) -> dict[str, str]:
    """The ModelLifeCycle of a version whose model's attributes are `attrs`: archived, with the
    retirement's reason and decider (from its tags) as the stage's description; else restored."""
    if not attrs.get("archived"):
        return {
            "Stage": RESTORED_STAGE,
            "StageStatus": RESTORED_STAGE,
            "StageDescription": "restored: its model is no longer retired",
        }
    tags = attrs.get("tags", {})
    why = f"retired by {tags.get(retire.TAG_BY, 'mlops')}: {tags.get(retire.TAG_REASON, 'no reason given')}"
    return {"Stage": ARCHIVED_STAGE, "StageStatus": ARCHIVED_STATUS, "StageDescription": why[:1024]}


def registration_from_describe(desc: Mapping[str, Any], owned: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "package_group": desc["ModelPackageGroupName"],
        "package_group_owned": owned,
        "package_arn": desc["ModelPackageArn"],
        "package_version": desc["ModelPackageVersion"],
        "approval": desc.get("ModelApprovalStatus", ""),
        "archived": (desc.get("ModelLifeCycle") or {}).get("Stage") == ARCHIVED_STAGE,
    }
    if desc.get("ModelPackageDescription"):
        attrs["package_description"] = desc["ModelPackageDescription"]
    return attrs


def _absent(exc: ProviderError) -> bool:
    return isinstance(exc, NotFoundError) or (
        exc.code == "ValidationException" and bool(_ABSENT.search(str(exc)))
    )


# ------------------------------------------------------------------------------------- I/O
class Registry:
    """Model registry calls for one provider instance."""

    def __init__(self, aws: Clients) -> None:
        self._aws = aws

    @property
    def _sm(self) -> Any:
        return self._aws.sagemaker

    # ---- reading --------------------------------------------------------------------------
    def versions(self, group: str) -> list[PackageVersion]:
        """Every version of `group`, lowest first (none if the group does not exist)."""
        try:
            summaries = collect(
                self._sm, "list_model_packages", "ModelPackageSummaryList", ModelPackageGroupName=group
            )
        except ProviderError as exc:
            if _absent(exc):
                return []
            raise
        return versions_from_summaries(summaries)

    def read(self, package_arn: str, tags: Mapping[str, str]) -> dict[str, Any]:
        """A registered model's registry attributes; empty when its version is gone, so the plan
        registers it again. `tags` are the model's: the group is owned when it carries the
        same address."""
        try:
            desc = call(self._sm, "describe_model_package", ModelPackageName=package_arn)
        except ProviderError as exc:
            if _absent(exc):
                return {}
            raise
        owner = self._tags(group_arn(package_arn))
        owned = bool(TAGS.owner(tags)) and TAGS.owner(owner) == TAGS.owner(tags)
        return registration_from_describe(desc, owned)

    def package_of_model(self, model: str) -> str | None:
        """The package a SageMaker Model was created from, if any."""
        try:
            desc = call(self._sm, "describe_model", ModelName=model)
        except NotFoundError:
            return None
        containers = [desc.get("PrimaryContainer") or {}, *(desc.get("Containers") or [])]
        return next((c["ModelPackageName"] for c in containers if c.get("ModelPackageName")), None)

    def _tags(self, arn: str) -> dict[str, str]:
        try:
            return translate.tag_dict(collect(self._sm, "list_tags", "Tags", ResourceArn=arn))
        except ProviderError as exc:
            if _absent(exc):
                return {}
            raise

    # ---- registering a model ----------------------------------------------------------------
    def register(self, attrs: Mapping[str, Any]) -> str:
        """Register `attrs` (a model's attributes) as a new version; returns its ARN. (`call`
        gives CreateModelPackage one ClientToken for all its attempts: a retry after a lost reply
        is the same request, not a second version.)"""
        self._ensure_group(attrs["package_group"], attrs.get("tags", {}))
        return str(call(self._sm, "create_model_package", **package_request(attrs))["ModelPackageArn"])

    def registered(self, attrs: Mapping[str, Any]) -> str | None:
        """The version an earlier, interrupted create of this model registered, if its latest
        version in the group is one: tagged with the model's address and holding its image,
        artifact and environment. Registering again would make a second version of it."""
        group, address = attrs.get("package_group"), TAGS.owner(attrs.get("tags", {}))
        if not group or not address:
            return None
        wanted = package_request(attrs)["InferenceSpecification"]["Containers"][0]
        for v in reversed(self.versions(group)):
            if TAGS.owner(self._tags(v.arn)) != address:
                continue
            desc = call(self._sm, "describe_model_package", ModelPackageName=v.arn)
            containers = (desc.get("InferenceSpecification") or {}).get("Containers") or [{}]
            found = {k: containers[0].get(k) for k in wanted}
            return v.arn if found == wanted else None
        return None

    def _ensure_group(self, group: str, tags: Mapping[str, str]) -> None:
        try:
            call(self._sm, "describe_model_package_group", ModelPackageGroupName=group)
            return
        except ProviderError as exc:
            if not _absent(exc):
                raise
        try:
            call(
                self._sm,
                "create_model_package_group",
                ModelPackageGroupName=group,
                ModelPackageGroupDescription=f"created by mlops-gitops stack {tags.get(TAGS.stack_key, '')}",
                Tags=translate.tag_list(tags),
            )
        except ProviderError as exc:
            # Another model of the stack, applied in parallel, made it first: it is theirs.
            if "already exist" not in str(exc):
                raise

    def update(self, package_arn: str, current: Mapping[str, Any], desired: Mapping[str, Any]) -> None:
        """Bring a registered version from `current` (its model's attributes, as read) to
        `desired`: its tags, approval and stage (archived or not). One UpdateModelPackage for
        approval and stage, so the version is never left archived but approved, or the reverse."""
        self.sync_tags(package_arn, current.get("tags", {}), desired.get("tags", {}))
        request: dict[str, Any] = {}
        if desired.get("approval") != current.get("approval"):
            request["ModelApprovalStatus"] = desired["approval"]
        if bool(desired.get("archived")) != bool(current.get("archived")):
            request["ModelLifeCycle"] = life_cycle(desired)
        if request:
            call(self._sm, "update_model_package", ModelPackageArn=package_arn, **request)

    def sync_tags(self, package_arn: str, managed: Mapping[str, str], wanted: Mapping[str, str]) -> None:
        """Give the version the model's tags (`wanted`). Of the tags it has and does not want,
        only those of `managed` (the model's tags so far, which mlops wrote) are removed: a tag
        someone else put on the version, or AWS's own (`aws:`, which cannot be removed), stays."""
        have = self._tags(package_arn)
        add = {k: v for k, v in wanted.items() if have.get(k) != v}
        remove = [k for k in have if k not in wanted and k in managed]
        if remove:
            call(self._sm, "delete_tags", ResourceArn=package_arn, TagKeys=remove)
        if add:
            call(self._sm, "add_tags", ResourceArn=package_arn, Tags=translate.tag_list(add))

    def unregister(self, attrs: Mapping[str, Any]) -> None:
        """Delete a model's registrations, under `mlops destroy` (see the module docstring): its
        version and the earlier ones of its address, and the group if the stack created it and
        nothing else is left in it. A replaced model's leftover (deposed) record keeps its
        version: a newer version of its address exists, which goes with the live record."""
        arn, group = attrs.get("package_arn"), attrs.get("package_group")
        address = TAGS.owner(attrs.get("tags", {}))
        if not arn or not group or not address:
            return
        versions = self.versions(group)
        mine = next((v.version for v in versions if v.arn == arn), 0)
        if any(TAGS.owner(self._tags(v.arn)) == address for v in versions if v.version > mine):
            return
        ours = [v for v in versions if v.version <= mine and TAGS.owner(self._tags(v.arn)) == address]
        for v in ours:
            self._delete_package(v.arn)
        if attrs.get("package_group_owned") is True and len(ours) == len(versions):
            try:
                call(self._sm, "delete_model_package_group", ModelPackageGroupName=group)
            except ProviderError as exc:
                if not _absent(exc):  # deleted already (outside mlops): what destroy wanted
                    raise

    def _delete_package(self, arn: str) -> None:
        try:
            call(self._sm, "delete_model_package", ModelPackageName=arn)
        except ProviderError as exc:
            if not _absent(exc):
                raise

    # ---- the models endpoints make from packages ---------------------------------------------
    def create_package_models(
        self, variants: Iterable[Mapping[str, Any]], role: str, tags: Mapping[str, str]
    ) -> list[str]:
        """Create the SageMaker Model of every `model_package` variant that lacks one; returns
        the names created. On failure those are deleted again, so nothing is left unrecorded."""
        created: list[str] = []
        for v in variants:
            if not v.get("model_package_arn"):
                continue
            try:
                call(
                    self._sm,
                    "create_model",
                    ModelName=v["model"],
                    ExecutionRoleArn=role,
                    Containers=[{"ModelPackageName": v["model_package_arn"]}],
                    Tags=translate.tag_list(tags),
                )
            except ProviderError as exc:
                # The name is derived from the endpoint, the variant, the package and the role: an
                # existing model of that name, of this address and made from this package, is this
                # one (left by an earlier attempt, the call's own retry, or used by the live config).
                if "already exist" in str(exc) and self._is_package_model(v, role, tags):
                    continue
                self.delete_models(created)
                raise
            created.append(v["model"])
        return created

    def _is_package_model(self, variant: Mapping[str, Any], role: str, tags: Mapping[str, str]) -> bool:
        try:
            desc = call(self._sm, "describe_model", ModelName=variant["model"])
        except NotFoundError:
            return False
        containers = [desc.get("PrimaryContainer") or {}, *(desc.get("Containers") or [])]
        made_from = {c.get("ModelPackageName") for c in containers}
        owner = TAGS.owner(self._tags(desc["ModelArn"]))
        return (
            variant["model_package_arn"] in made_from
            and desc.get("ExecutionRoleArn") == role
            and owner == TAGS.owner(tags)
        )

    def delete_models(self, names: Iterable[str]) -> None:
        for name in names:
            with contextlib.suppress(NotFoundError):
                call(self._sm, "delete_model", ModelName=name)

    def sweep_package_models(
        self, endpoint: str, address: str, *, keep: set[str], recorded: set[str]
    ) -> None:
        """Delete the package models this endpoint owns but no longer uses. Owned means named
        `<endpoint>-…` and either recorded in state or tagged with this address; the stack's own
        models carry their own address, so they are never taken for these."""
        prefix = translate.config_prefix(endpoint)
        for item in collect(self._sm, "list_models", "Models", NameContains=prefix):
            name = item["ModelName"]
            if name in keep or not name.startswith(prefix):
                continue
            if name not in recorded and TAGS.owner(self._tags(item["ModelArn"])) != address:
                continue
            self.delete_models([name])
