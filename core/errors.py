"""Exception classes: every error a user can meet names the problem and the valid choices;
``warn_user`` for the warnings."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path


def _package_dirs() -> tuple[str, ...]:
    """The folders of visionhooks' code (core and its plugins: one folder in an installed
    package, two in a source checkout), each ending in a separator."""
    import visionhooks.plugins

    dirs = {Path(__file__).resolve().parent, Path(visionhooks.plugins.__file__).resolve().parent}
    return tuple(str(d) + os.sep for d in dirs)


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the user's line: the first caller outside
    visionhooks (core and its plugins) and outside the file that calls ``warn_user`` (a
    third-party plugin's module), however deep inside the framework it is raised."""
    caller = sys._getframe(1)
    inside = (*_package_dirs(), str(Path(caller.f_code.co_filename).resolve()))
    frame, level = caller, 2  # 1 would be this function
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(inside):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


class VisionhooksError(Exception):
    """Base class of every error raised by visionhooks."""


class ConfigError(VisionhooksError, ValueError):
    """A configuration (task, component, CLI override) is malformed or invalid."""


class ComponentError(VisionhooksError, TypeError):
    """A plugin registered something that cannot be a component, or a component's
    factory built something its kind cannot use (a loss factory returning None)."""


class ComponentNotFoundError(VisionhooksError, LookupError):
    """No component of that kind and name is registered."""


class AmbiguousComponentError(VisionhooksError, LookupError):
    """Two plugins registered the same name; ask for ``plugin:name``."""


class IncompatibleComponentsError(ConfigError):
    """Components that cannot work together (e.g. a model not made for the task type)."""


class PluginLoadError(VisionhooksError):
    """Raised in strict mode when one or more plugins failed to load."""


class BackendError(VisionhooksError, RuntimeError):
    """Keras is running on another backend than JAX."""


class DataError(VisionhooksError, ValueError):
    """Input data has the wrong shape, dtype, range or contents."""


class DatasetNotFoundError(DataError, FileNotFoundError):
    """A dataset's files could not be found where it looked."""


class CheckpointError(VisionhooksError):
    """A checkpoint or saved task cannot be read or does not match."""


class TrainingError(VisionhooksError, RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); the last good checkpoint is kept."""
