"""Exception classes: every error a user can meet names the problem and the valid choices."""

from __future__ import annotations


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
