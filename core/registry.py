"""The registry: for each kind, name → component (factory, config class, owner plugin)."""

from __future__ import annotations

import difflib
import importlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import pydantic

from .config import ComponentConfig, EmptyConfig, validate_params
from .errors import AmbiguousComponentError, ComponentError, ComponentNotFoundError, ConfigError, \
    VisionhooksError
from .hookspecs import KINDS

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
#: Registration metadata the core reads, per kind (any other key is stored for the
#: plugin's use).
KNOWN_METADATA = {"*": ("tasks", "description"), "augmentation": ("geometric", "moves"),
                  "explainer": ("needs_images",)}


class Register(Protocol):
    """The callback a registration hook receives."""

    def __call__(self, name: str, factory: Callable[..., Any] | str,
                 config: type[pydantic.BaseModel] | None = None, **metadata: Any) -> None: ...


@dataclass(frozen=True)
class Component:
    """One registered component.

    ``factory`` is a callable or a ``"module:attribute"`` string resolved on first use.
    ``metadata`` holds declared capabilities (``tasks``, ``moves``, ``description`` ...).
    """

    kind: str
    name: str
    factory: Callable[..., Any] | str
    config: type[pydantic.BaseModel]
    plugin: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def qualified_name(self) -> str:
        return f"{self.plugin}:{self.name}"

    @property
    def tasks(self) -> tuple[str, ...] | None:
        tasks = self.metadata.get("tasks")
        return tuple(tasks) if tasks is not None else None

    def resolve_factory(self) -> Callable[..., Any]:
        if callable(self.factory):
            return self.factory
        module, _, attr = self.factory.partition(":")
        try:
            obj = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise ComponentError(
                f"{self.kind} {self.name!r} of plugin {self.plugin!r}: cannot import its "
                f"factory {self.factory!r}: {exc}") from exc
        return obj

    def validate(self, params: dict[str, Any] | pydantic.BaseModel | None) -> pydantic.BaseModel:
        """Validate parameters against the config class (pydantic's error names the field)."""
        return validate_params(self.config, params, where=f"{self.kind} {self.name!r}")

    def build(self, params: dict[str, Any] | pydantic.BaseModel | None, info: Any) -> Any:
        """Validate ``params`` and call ``factory(config, info)``. A factory that fails
        with other than a visionhooks error (which already says what is wrong) gets a note
        naming the component and its plugin, its type kept for callers that catch it (a
        bare "RuntimeError" from deep in a plugin said neither)."""
        factory, config = self.resolve_factory(), self.validate(params)
        try:
            return factory(config, info)
        except VisionhooksError:
            raise
        except Exception as exc:
            self.note(exc)
            raise

    def note(self, exc: BaseException) -> None:
        """Name this component and its plugin on ``exc``, raised by its factory."""
        exc.add_note(f"raised by the factory of {self.kind} {self.name!r} (plugin "
                     f"{self.plugin!r})")


class Registry:
    """Components by kind and name. Duplicate names stay reachable as ``plugin:name``."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, list[Component]]] = {k: {} for k in KINDS}

    def make_register(self, kind: str, plugin: str,
                      on_duplicate: Callable[[Component, Component], None]) -> Register:
        """Return the ``register`` callback for one plugin and one kind."""

        def register(name: str, factory: Callable[..., Any] | str,
                     config: type[pydantic.BaseModel] | None = None, **metadata: Any) -> None:
            component = self._check(kind, name, factory, config, plugin, metadata)
            existing = self._items[kind].setdefault(name, [])
            for other in existing:
                if other.plugin == plugin:
                    raise ComponentError(f"plugin {plugin!r} registered {kind} {name!r} twice")
            existing.append(component)
            if len(existing) > 1:
                on_duplicate(existing[0], component)

        return register

    @staticmethod
    def _check(kind: str, name: Any, factory: Any, config: Any, plugin: str,
               metadata: dict[str, Any]) -> Component:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ComponentError(
                f"plugin {plugin!r}: {kind} name must be lower-case letters, digits, '-', '_' "
                f"or '.', starting with a letter or digit. Received: name={name!r}")
        if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
            raise ComponentError(
                f"plugin {plugin!r}: the factory of {kind} {name!r} must be callable or a "
                f"'module:attribute' string. Received: factory={factory!r}")
        if config is None:
            config = EmptyConfig
        if not (isinstance(config, type) and issubclass(config, pydantic.BaseModel)):
            raise ComponentError(
                f"plugin {plugin!r}: the config of {kind} {name!r} must be a pydantic model "
                f"class (subclass visionhooks.ComponentConfig). Received: config={config!r}")
        known = (*KNOWN_METADATA["*"], *KNOWN_METADATA.get(kind, ()))
        for key in metadata:  # free-form, but a near-miss of a key the core reads for
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.885)  # this kind
            if close and close[0] != key:  # would pass silently: geometic=True
                raise ComponentError(
                    f"plugin {plugin!r}: {kind} {name!r} registers metadata {key!r}; did "
                    f"you mean {close[0]!r}? The core reads {', '.join(known)} for {kind}s; "
                    f"other keys are the plugin's own")
        tasks = metadata.get("tasks")
        if tasks is not None:
            if isinstance(tasks, str):
                tasks = (tasks,)
            metadata = {**metadata, "tasks": tuple(tasks)}
        return Component(kind, name, factory, config, plugin, dict(metadata))

    def remove_plugin(self, plugin: str) -> None:
        for by_name in self._items.values():
            for name in list(by_name):
                by_name[name] = [c for c in by_name[name] if c.plugin != plugin]
                if not by_name[name]:
                    del by_name[name]

    def names(self, kind: str) -> list[str]:
        """Registered names of one kind; duplicated names appear as ``plugin:name``."""
        _check_kind(kind)
        out = []
        for name, comps in self._items[kind].items():
            out.extend([name] if len(comps) == 1 else [c.qualified_name for c in comps])
        return sorted(out)

    def all(self, kind: str | None = None) -> list[Component]:
        kinds = KINDS if kind is None else (_check_kind(kind),)
        return [c for k in kinds for comps in self._items[k].values() for c in comps]

    def find(self, kind: str, name: str) -> Component | None:
        """The component, or None when unknown; raises when the bare name is ambiguous."""
        _check_kind(kind)
        if not isinstance(name, str):
            raise ConfigError(f"{kind} names are strings, e.g. {self.names(kind)[:1]}. "
                              f"Received: {name!r}")
        plugin, sep, bare = name.rpartition(":")
        comps = self._items[kind].get(bare if sep else name, [])
        if sep:
            comps = [c for c in comps if c.plugin == plugin]
        if len(comps) > 1:
            owners = ", ".join(repr(c.qualified_name) for c in comps)
            raise AmbiguousComponentError(
                f"{kind} {name!r} is registered by several plugins; ask for one of {owners}")
        return comps[0] if comps else None

    def get(self, kind: str, name: str, failed_plugins: dict[str, str] | None = None) -> Component:
        """The component; an unknown name raises an error listing what would have matched."""
        found = self.find(kind, name)
        if found is not None:
            return found
        raise ComponentNotFoundError(unknown_message(kind, name, self.names(kind), failed_plugins))


def unknown_message(kind: str, name: str, names: list[str],
                    failed_plugins: dict[str, str] | None) -> str:
    """'Unknown model 'unet2'. Did you mean 'unet'? Registered: ... Failed plugins: ...'."""
    msg = f"unknown {kind} {name!r}."
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if close:
        msg += " Did you mean " + " or ".join(repr(c) for c in close) + "?"
    plural = kind + ("es" if kind.endswith("s") else "s")  # "losses", not "losss"
    msg += f" Registered {plural}: " + (", ".join(names) if names else "(none)") + "."
    if failed_plugins:
        msg += " These plugins failed to load and may have provided it: " + "; ".join(
            f"{p} ({why})" for p, why in failed_plugins.items()) + ". Run `visionhooks plugins`."
    return msg


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ComponentNotFoundError(unknown_message("component kind", kind, list(KINDS), None))
    return kind


__all__ = ["Component", "ComponentConfig", "Register", "Registry", "unknown_message"]
