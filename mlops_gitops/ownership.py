"""Which cloud objects a stack owns: the two ownership markers every provider writes.

Every object a provider creates carries the stack's name and the resource's address (the core's
`TAG_STACK` and `TAG_ADDRESS`), so a console user can tell who owns what, and a provider can tell
an object it made (left by an apply that died before recording it, or whose reply was lost) from
someone else's under the same name. Clouds differ only in where the markers go and how they are
spelled: AWS tags take the keys and values as they are, Google Cloud labels allow neither `:` nor
`.`. A `Markers` value is that spelling, built with the cloud's key/value encoding; everything
else (what the markers are, what owning means, which paths are no drift) is here, once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mlops_gitops import paths
from mlops_gitops.provider import TAG_ADDRESS, TAG_STACK


def _as_is(text: str) -> str:
    return text


@dataclass(frozen=True)
class Markers:
    """The ownership markers as one cloud writes them: in which attribute of the resource
    (`tags`, `labels`), under which keys, with values spelled by `encode_value`."""

    attribute: str = "tags"
    encode_key: Callable[[str], str] = _as_is
    encode_value: Callable[[str], str] = _as_is

    @property
    def stack_key(self) -> str:
        return self.encode_key(TAG_STACK)

    @property
    def address_key(self) -> str:
        return self.encode_key(TAG_ADDRESS)

    @property
    def keys(self) -> tuple[str, str]:
        return (self.stack_key, self.address_key)

    @property
    def not_drift(self) -> tuple[str, ...]:
        """The markers' attribute paths, for a kind's `not_drift`: they are written with every
        change, but their absence alone (an imported object) is no reason to plan one."""
        return tuple(paths.join([self.attribute, key]) for key in self.keys)

    def of(self, *, stack: str, address: str) -> dict[str, str]:
        """The markers an object of `address` in `stack` carries."""
        return {self.stack_key: self.encode_value(stack), self.address_key: self.encode_value(address)}

    def add(self, user: Mapping[str, str], *, stack: str, address: str) -> dict[str, str]:
        """`user`'s tags (or labels) with the markers; the markers win over a user key that
        spells the same."""
        return {**user, **self.of(stack=stack, address=address)}

    def user(self, tags: Mapping[str, str]) -> dict[str, str]:
        """`tags` without the markers: what the stack file says."""
        return {k: v for k, v in tags.items() if k not in self.keys}

    def owner(self, tags: Mapping[str, str]) -> str | None:
        """The (encoded) address an object's markers name, None if it carries none."""
        return tags.get(self.address_key)

    def owned_by(self, tags: Mapping[str, str], *, address: str, stack: str | None = None) -> bool:
        """Whether an object carrying `tags` is the one of `address` (and, when given, of
        `stack`). A provider whose object names already embed the stack may check the address
        alone."""
        if tags.get(self.address_key) != self.encode_value(address):
            return False
        return stack is None or tags.get(self.stack_key) == self.encode_value(stack)


# The markers as tags, spelled as the core's constants: what AWS (and the core's default_tags) use.
TAGS = Markers()
