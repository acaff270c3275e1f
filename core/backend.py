"""Keras on JAX: select the backend before Keras is imported, and check it after."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import sys

from .errors import BackendError


#: XLA options for CPU that visionhooks adds to ``XLA_FLAGS`` unless given there, with
#: the jaxlib versions known to accept them (XLA aborts on a flag it does not know).
#: YNNPACK fusions for reductions only: XLA's own convolutions, kernel gradients and
#: dots use every core where YNNPACK's ran on one, while YNNPACK's reductions (bias and
#: batch-norm gradients, moments) are ~5x faster than XLA's. U-Net's step: 820 ms with
#: jaxlib's default, 790 with no YNNPACK fusion, 675 with reductions only; LeNet-5's
#: ~5% faster again (2 cores; bench/RESULTS.md, "Speed attempts").
XLA_CPU_DEFAULTS = {"xla_cpu_experimental_ynn_fusion_type": ("reduce", "0.8.3", "0.11")}

#: Set to "0" to leave ``XLA_FLAGS`` as it is.
XLA_DEFAULTS_ENV = "VISIONHOOKS_XLA_DEFAULTS"


#: Where the CLI keeps JAX's persistent compilation cache: unset for the default folder,
#: "0" for none, or a folder.
COMPILATION_CACHE_ENV = "VISIONHOOKS_COMPILATION_CACHE"


def compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache for this process (the CLI does, before
    JAX starts): every XLA program compiled once — the train step, and each of the small
    programs that initialize variables — is read back on the next run. LeNet-5's
    ``visionhooks train`` prints its first progress line after 3-4 s warm against 6-8 s
    without the cache (2-core CPU; ``bench/RESULTS.md``, "Speed (CPU)"); ~0.5 MB for it.

    The folder: ``VISIONHOOKS_COMPILATION_CACHE`` if it names one, else
    ``$XDG_CACHE_HOME/visionhooks/jax/<cpu>`` (``~/.cache/...``), one per kind of CPU, so
    a home folder shared by different machines never hands one code compiled for another's
    instruction set; a ``JAX_COMPILATION_CACHE_DIR`` of the user's wins. Returns the
    folder, or None when turned off (``VISIONHOOKS_COMPILATION_CACHE=0``) or when JAX was
    imported already (it reads these settings at import). JAX keys each entry by the
    program, the XLA flags and the versions, and warns (never fails) where the folder
    cannot be written; with ``filelock`` installed it also evicts the least recently used
    entries past 1 GiB.
    """
    value = os.environ.get(COMPILATION_CACHE_ENV, "").strip()
    if value.lower() in ("0", "false", "no", "off") or "jax" in sys.modules:
        return None
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return os.environ["JAX_COMPILATION_CACHE_DIR"]
    if value.lower() in ("", "1", "true", "yes", "on"):
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                ".cache")
        path = os.path.join(base, "visionhooks", "jax", _cpu_kind())
    else:
        path = value
    os.environ["JAX_COMPILATION_CACHE_DIR"] = path
    # every program, however quick to compile: the many small ones add up to seconds
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    if importlib.util.find_spec("filelock") is not None:  # JAX's LRU eviction needs it
        os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(1 << 30))
    return path


def _cpu_kind() -> str:
    """A short name for this machine's CPU: its architecture and a digest of its feature
    flags (Linux ``/proc/cpuinfo``; elsewhere ``platform.processor()``)."""
    import hashlib
    import platform

    features = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            features = next((line for line in f if line.startswith(("flags", "Features"))),
                            features)
    except OSError:
        pass
    digest = hashlib.sha256(features.encode()).hexdigest()[:12]
    return f"{platform.machine() or 'cpu'}-{digest}"


def select_jax() -> None:
    """Set ``KERAS_BACKEND=jax`` when unset, and visionhooks' XLA CPU defaults (cheap:
    imports nothing; they apply if JAX has not started its CPU backend yet)."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    xla_cpu_defaults()


def xla_cpu_defaults() -> list[str]:
    """Append ``XLA_CPU_DEFAULTS`` to ``XLA_FLAGS`` (flags already there win); returns
    the flags added. Skipped with ``VISIONHOOKS_XLA_DEFAULTS=0`` or an unknown jaxlib."""
    if os.environ.get(XLA_DEFAULTS_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return []
    try:
        from importlib.metadata import version

        from packaging.version import Version

        jaxlib = Version(version("jaxlib"))
    except Exception:  # jaxlib missing or unreadable: JAX will say so when it is used
        return []
    flags = os.environ.get("XLA_FLAGS", "")
    added = [f"--{name}={value}" for name, (value, lo, hi) in XLA_CPU_DEFAULTS.items()
             if Version(lo) <= jaxlib < Version(hi) and f"--{name}" not in flags]
    if added:
        os.environ["XLA_FLAGS"] = " ".join([flags, *added]).strip()
    return added


def keras():
    """Import Keras on the JAX backend; a clear error if another backend is active."""
    # the XLA defaults were set once, at ``import visionhooks`` (before JAX could start)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras as _keras

    active = _keras.backend.backend()
    if active != "jax":
        where = ("KERAS_BACKEND=" + os.environ["KERAS_BACKEND"]
                 if os.environ.get("KERAS_BACKEND") else "~/.keras/keras.json")
        raise BackendError(
            f"visionhooks runs Keras on the JAX backend, but Keras is already using "
            f"{active!r} (set by {where}). Set KERAS_BACKEND=jax before importing keras. "
            f"Received: backend={active!r}")
    from . import keras_objects  # noqa: F401  (registers TaskModel for load_model)

    return _keras


def keras_is_imported() -> bool:
    return "keras" in sys.modules


class _RegisterAfterKerasImport(importlib.abc.MetaPathFinder):
    """Registers ``TaskModel`` the moment Keras finishes importing.

    ``import visionhooks`` must not import Keras, yet ``keras.saving.load_model`` must
    find ``visionhooks>TaskModel`` once visionhooks is imported, whichever came first.
    This finder wraps Keras' own loader once, then removes itself.
    """

    def find_spec(self, name, path, target=None):  # noqa: D102
        if name != "keras":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            try:
                importlib.import_module("visionhooks.keras_objects")
            except Exception:  # never break `import keras` itself
                pass

        spec.loader.exec_module = exec_then_register
        return spec


def register_keras_objects_on_import() -> None:
    """Make ``keras.saving.load_model`` understand task files (cheap, imports nothing)."""
    if "keras" in sys.modules:
        try:
            keras()
        except BackendError:
            pass
    elif not any(isinstance(f, _RegisterAfterKerasImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterKerasImport())
