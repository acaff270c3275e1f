"""Plugin discovery and load-error reporting over pluggy.

Not ``pm.load_setuptools_entrypoints``: it stops at the first plugin that raises, and a
hook call stops at the first implementation that raises. The ``Host`` runs its own
discovery loop and calls each plugin's registration hooks one plugin at a time, each
in its own ``try``, so a broken plugin is recorded (name, distribution, version,
traceback) and every other plugin keeps working.

Environment: ``VISIONHOOKS_LOAD_PLUGINS=a,b`` loads only those entry points (empty: none);
``VISIONHOOKS_DISABLE_PLUGIN_AUTOLOAD=1`` loads no third-party entry point (built-ins
still load); ``VISIONHOOKS_BLOCK_PLUGINS=a,dist:b`` skips some (by entry-point name, or
one distribution's); ``VISIONHOOKS_STRICT_PLUGINS=1``
raises every load error at once; ``VISIONHOOKS_TRACE_PLUGINS=1`` prints hook calls.
"""

from __future__ import annotations

import difflib
import os
import sys
import threading
import traceback
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any, Callable, Iterable

import pluggy

from . import hookspecs
from .errors import PluginLoadError
from .registry import Component, Registry

GROUP = "visionhooks"
BUILTIN_DISTRIBUTION = "visionhooks"


@dataclass
class LoadProblem:
    """One thing that went wrong while loading a plugin."""

    stage: str  # "import", "api", "validate", "register", "duplicate"
    message: str
    traceback: str | None = None


@dataclass
class PluginInfo:
    """What ``vh.plugins()`` and ``visionhooks plugins`` report for one plugin."""

    name: str
    version: str | None = None
    distribution: str | None = None
    entry_point: str | None = None
    hooks: list[str] = field(default_factory=list)
    components: dict[str, list[str]] = field(default_factory=dict)
    problems: list[LoadProblem] = field(default_factory=list)
    loaded: bool = False

    @property
    def error(self) -> str | None:
        """One line per problem, or None when the plugin loaded cleanly."""
        return "; ".join(f"{p.stage}: {p.message}" for p in self.problems) or None

    @property
    def traceback(self) -> str | None:
        return "\n".join(p.traceback for p in self.problems if p.traceback) or None

    @property
    def kinds(self) -> list[str]:
        """The component kinds this plugin registers."""
        return list(self.components)

    @property
    def status(self) -> str:
        if not self.problems:
            return "ok"
        return "partial" if self.loaded else "failed"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(status=self.status, error=self.error)
        return out


class Host:
    """A plugin manager, a registry and the load records of every plugin.

    Args:
        entry_points: entry points to load instead of the installed ``visionhooks``
            group (tests fake them this way).
        autoload: load entry points at all.
        strict: raise ``PluginLoadError`` listing every load error after discovery.
    """

    def __init__(self, entry_points: Iterable[metadata.EntryPoint] | None = None,
                 autoload: bool = True, strict: bool | None = None) -> None:
        self.pm = pluggy.PluginManager(GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.infos: dict[str, PluginInfo] = {}
        self._entry_points = entry_points
        self._autoload = autoload
        self._strict = _env_flag("VISIONHOOKS_STRICT_PLUGINS") if strict is None else strict
        self._loaded = False
        self._lock = threading.RLock()
        # The host calls implementations itself (one try per plugin), not through
        # ``pm.hook``, so pluggy's tracing would never fire: trace those calls here.
        self._tracing = _env_flag("VISIONHOOKS_TRACE_PLUGINS")

    # -- discovery ---------------------------------------------------------------

    def load(self) -> Host:
        """Discover and register every entry-point plugin (once)."""
        with self._lock:
            if not self._loaded:
                self._loaded = True
                if self._autoload:
                    for ep in self._select(self._discover()):
                        self._load_entry_point(ep)
            if self._strict:  # on every call: a strict host never serves broken plugins
                failed = [i for i in self.infos.values() if i.problems]
                if failed:
                    raise PluginLoadError("plugins failed to load:\n" + "\n".join(
                        f"- {i.name}: {i.error}\n{i.traceback or ''}" for i in failed))
        return self

    def _discover(self) -> list[metadata.EntryPoint]:
        if self._entry_points is not None:
            return list(self._entry_points)
        seen, out = set(), []
        for ep in metadata.entry_points(group=GROUP):
            if (ep.name, ep.value) not in seen:  # a dist can be on sys.path twice
                seen.add((ep.name, ep.value))
                out.append(ep)
        return out

    @staticmethod
    def _select(eps: list[metadata.EntryPoint]) -> list[metadata.EntryPoint]:
        only = os.environ.get("VISIONHOOKS_LOAD_PLUGINS")
        blocked = set(_env_list("VISIONHOOKS_BLOCK_PLUGINS"))
        no_auto = _env_flag("VISIONHOOKS_DISABLE_PLUGIN_AUTOLOAD")
        out = []
        # built-ins first: a third-party entry point with a built-in's name is the one
        # skipped (and reported), never the built-in
        for ep in sorted(eps, key=lambda e: _dist_name(e) != BUILTIN_DISTRIBUTION):
            dist = _dist_name(ep)
            if ep.name in blocked or f"{dist}:{ep.name}" in blocked:
                continue
            if dist == BUILTIN_DISTRIBUTION:  # built-ins load unless blocked by name
                out.append(ep)
                continue
            if only is not None and ep.name not in _env_list("VISIONHOOKS_LOAD_PLUGINS"):
                continue
            if no_auto:
                continue
            out.append(ep)
        return out

    def _load_entry_point(self, ep: metadata.EntryPoint) -> PluginInfo:
        dist = getattr(ep, "dist", None)
        info = PluginInfo(name=ep.name, version=getattr(dist, "version", None),
                          distribution=_dist_name(ep), entry_point=ep.value)
        try:
            obj = ep.load()
        except BaseException as exc:  # SyntaxError, ImportError, sys.exit(), anything
            if isinstance(exc, KeyboardInterrupt):
                raise
            self._record(info, "import", exc)
            self.infos[info.name] = info
            return info
        return self._add(obj, info)

    def register_plugin(self, obj: Any, name: str | None = None, version: str | None = None,
                        distribution: str | None = None) -> PluginInfo:
        """Add a plugin object or module without packaging it (tests, notebooks).

        Returns its ``PluginInfo``; problems are recorded there, not raised.
        """
        self.load()
        name = name or getattr(obj, "__name__", None) or type(obj).__name__
        info = PluginInfo(name=name, version=version, distribution=distribution)
        return self._add(obj, info)

    def unregister_plugin(self, name: str) -> None:
        """Remove a plugin and every component it registered."""
        with self._lock:
            plugin = self.pm.get_plugin(name)
            if plugin is not None:
                self.pm.unregister(plugin)
            self.registry.remove_plugin(name)
            self.infos.pop(name, None)

    def _add(self, obj: Any, info: PluginInfo) -> PluginInfo:
        with self._lock:
            if info.name in self.infos or self.pm.has_plugin(info.name):
                owner = self.infos.get(info.name)
                by = (owner.distribution if owner else None) or "register_plugin"
                self._problem(info, "validate", f"a plugin named {info.name!r} is already "
                                                f"registered (by {by}); this one was skipped")
                n = 2
                while f"{info.name}#{n}" in self.infos:
                    n += 1
                info.name = f"{info.name}#{n}"
                self.infos[info.name] = info
                return info
            self.infos[info.name] = info
            if not self._api_ok(obj, info):
                return info
            try:
                self.pm.register(obj, name=info.name)
            except Exception as exc:  # PluginValidationError, ValueError (same object twice)
                self._record(info, "validate", exc)
                return info
            bare = [n for n in [*hookspecs.REGISTRATION_HOOKS, "fit_callbacks"]
                    if callable(getattr(obj, n, None))
                    and self.pm.parse_hookimpl_opts(obj, n) is None]
            for hook in bare:  # pluggy skips it without a word
                self._problem(info, "validate", f"{hook!r} of plugin {info.name!r} is not "
                                                f"marked @visionhooks.hookimpl, so it is never "
                                                f"called")
            unknown = [hc.name for hc in self.pm.get_hookcallers(obj) or [] if hc.spec is None]
            if unknown:
                for hook in unknown:
                    close = difflib.get_close_matches(hook, list(hookspecs.REGISTRATION_HOOKS)
                                                      + ["fit_callbacks"], n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    self._problem(info, "validate",
                                  f"unknown hook {hook!r} in plugin {info.name!r}{hint}")
                self.pm.unregister(obj)
                return info
            wrappers = sorted(hc.name for hc in self.pm.get_hookcallers(obj) or []
                              for impl in hc.get_hookimpls() if impl.plugin is obj
                              and (impl.hookwrapper or getattr(impl, "wrapper", False)))
            if wrappers:  # the host calls each plugin's hooks itself: a wrapper never runs
                self._problem(info, "validate", f"hooks {wrappers} of plugin {info.name!r} "
                                                f"are wrappers (wrapper=True / "
                                                f"hookwrapper=True), which visionhooks does "
                                                f"not call; make them plain hookimpls")
                self.pm.unregister(obj)
                return info
            info.hooks = sorted(hc.name for hc in self.pm.get_hookcallers(obj) or [])
            info.loaded = True
            self._call_registration_hooks(obj, info)
        return info

    def _api_ok(self, obj: Any, info: PluginInfo) -> bool:
        wanted = getattr(obj, "VISIONHOOKS_API", None)
        if wanted is None:
            return True
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            ok = SpecifierSet(str(wanted)).contains(hookspecs.PLUGIN_API_VERSION)
        except InvalidSpecifier:
            self._problem(info, "api", f"VISIONHOOKS_API={wanted!r} is not a version range "
                                       "such as '>=1,<2'")
            return False
        if not ok:
            self._problem(info, "api", f"supports plugin API {wanted}, this visionhooks "
                                       f"provides {hookspecs.PLUGIN_API_VERSION}")
        return ok

    def _call_registration_hooks(self, obj: Any, info: PluginInfo) -> None:
        for hook_name, kind in hookspecs.REGISTRATION_HOOKS.items():
            caller = getattr(self.pm.hook, hook_name)
            for impl in caller.get_hookimpls():
                if impl.plugin is not obj:
                    continue
                register = self.registry.make_register(
                    kind, info.name, lambda first, dup: self._duplicate(first, dup))
                self._trace(f"{hook_name} of plugin {info.name!r}")
                try:
                    impl.function(**{a: register for a in impl.argnames if a == "register"})
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # sys.exit() too: it must not end discovery
                    self._record(info, "register", exc)
        for kind in hookspecs.KINDS:
            names = [c.name for c in self.registry.all(kind) if c.plugin == info.name]
            if names:
                info.components[kind] = sorted(names)

    def _duplicate(self, first: Component, dup: Component) -> None:
        info = self.infos[dup.plugin]
        self._problem(info, "duplicate",
                      f"{dup.kind} {dup.name!r} is also registered by plugin {first.plugin!r}; "
                      f"both are reachable as {first.qualified_name!r} and "
                      f"{dup.qualified_name!r}, the bare name is ambiguous")

    def _record(self, info: PluginInfo, stage: str, exc: BaseException) -> None:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        info.problems.append(LoadProblem(stage, f"{type(exc).__name__}: {exc}", tb))

    def _trace(self, message: str) -> None:
        if self._tracing:
            print(f"visionhooks trace: calling {message}", file=sys.stderr)

    @staticmethod
    def _problem(info: PluginInfo, stage: str, message: str) -> None:
        info.problems.append(LoadProblem(stage, message))

    # -- queries -----------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        self.load()
        return sorted(self.infos.values(), key=lambda i: i.name)

    def failed(self) -> dict[str, str]:
        """Plugins with load problems: name → one-line reason."""
        return {i.name: i.error or "" for i in self.plugins() if i.problems}

    def component(self, kind: str, name: str) -> Component:
        """The component of ``kind`` called ``name`` (or ``plugin:name``)."""
        self.load()
        return self.registry.get(kind, name, self.failed())

    def components(self, kind: str) -> list[str]:
        self.load()
        return self.registry.names(kind)

    def plugin_of(self, component: Component) -> PluginInfo | None:
        return self.infos.get(component.plugin)

    def call_lifecycle(self, hook_name: str, check: Callable[[Any], Any] | None = None,
                       **kwargs: Any) -> list[Any]:
        """Call a lifecycle hook plugin by plugin; a plugin that raises, or whose answer
        ``check`` refuses (raises), is recorded and skipped. Returns the answers that are
        not None (as ``check`` returns them)."""
        self.load()
        results = []
        for impl in reversed(getattr(self.pm.hook, hook_name).get_hookimpls()):
            self._trace(f"{hook_name} of plugin {impl.plugin_name!r}")
            try:
                out = impl.function(**{a: kwargs[a] for a in impl.argnames})
                if out is not None and check is not None:
                    out = check(out)
            except Exception as exc:
                info = self.infos.get(self.pm.get_name(impl.plugin) or "")
                if info is not None:
                    self._record(info, hook_name, exc)
                print(f"visionhooks: plugin {impl.plugin_name!r} raised in {hook_name}: "
                      f"{type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            if out is not None:
                results.append(out)
        return results


def _dist_name(ep: metadata.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.metadata["Name"] if dist is not None else None


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str) -> list[str]:
    return [s.strip() for s in os.environ.get(name, "").split(",") if s.strip()]


_default: Host | None = None
_default_lock = threading.Lock()


def host() -> Host:
    """The process-wide host, loaded on first use (workers load it the same way)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Host()
    return _default.load()


def set_host(new: Host | None) -> Host | None:
    """Replace the process-wide host (tests); returns the previous one."""
    global _default
    with _default_lock:
        old, _default = _default, new
    return old
