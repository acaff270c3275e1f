"""A fusion boundary for compiled steps: a value XLA computes once and then reads.

XLA fuses cheap elementwise producers into each of their consumers and recomputes them
there. That is usually right, but not when a consumer reads every element many times:
an augmentation's bilinear blend fused into the 25 taps of LeNet-5's first convolution
(and its gradients) cost +2.4 ms of an 8.6 ms training step on CPU (``bench/RESULTS.md``).
``jax.lax.optimization_barrier`` would say "compute this once", but XLA's CPU compiler
expands barriers before it fuses; a conditional is a boundary it keeps.
"""

from __future__ import annotations

from typing import Any


def boundary(tree: Any, runtime_value: Any) -> Any:
    """``tree`` (arrays, any pytree) unchanged, materialized once inside a jitted function.

    On CPU: ``lax.cond`` on a predicate read from ``runtime_value`` (any array XLA cannot
    constant-fold, e.g. a seed or the input), whose branches both return ``tree`` (one
    adds 0), so the result never depends on the predicate. On other backends, with
    several devices (reading one element of a sharded value would add a collective per
    boundary and step) or an empty ``runtime_value``: an optimization barrier. Outside
    ``jit`` it costs one small conditional.
    """
    import jax
    import jax.numpy as jnp

    if (jax.default_backend() != "cpu" or jax.device_count() > 1
            or jnp.size(runtime_value) == 0):
        return jax.lax.optimization_barrier(tree)
    flag = jnp.ravel(runtime_value)[-1] != 0
    return jax.lax.cond(flag, lambda t: t,
                        lambda t: jax.tree_util.tree_map(lambda a: a + jnp.zeros((), a.dtype), t),
                        tree)
