"""The fusion boundary: values computed once inside a compiled step, never changed."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from visionhooks.fusion import boundary


def test_a_boundary_passes_any_tree_on_unchanged_and_survives_compilation():
    tree = {"images": jnp.linspace(-1, 1, 24).reshape(2, 3, 4, 1),
            "labels": jnp.arange(2, dtype=jnp.int32)}
    for seed in ([0, 0], [5, 1], [0, 7]):  # the result never depends on the runtime value
        out = jax.jit(boundary)(tree, jnp.asarray(seed, jnp.uint32))
        jax.tree_util.tree_map(np.testing.assert_array_equal, out, tree)
    # the boundary survives XLA's optimisations (a barrier or a conditional in the
    # compiled program), so consumers read the batch instead of recomputing it
    hlo = jax.jit(lambda x, s: jnp.sin(boundary(x * 2.0, s)) + 1.0).lower(
        tree["images"], jnp.zeros(2, jnp.uint32)).compile().as_text()
    assert "conditional(" in hlo or "opt-barrier(" in hlo


def test_a_boundary_is_transparent_to_grad_and_vmap():
    x = jnp.linspace(-2, 2, 12).reshape(3, 4)
    np.testing.assert_allclose(jax.grad(lambda v: jnp.sum(boundary(v, v) ** 2))(x), 2 * x)
    np.testing.assert_array_equal(jax.vmap(lambda v: boundary(v, v))(x), x)


def test_a_boundary_adds_no_conditional_with_an_empty_value_or_several_devices(monkeypatch):
    x = jnp.ones((0, 4, 4, 1))
    np.testing.assert_array_equal(jax.jit(boundary)(x, x), x)  # nothing to read a flag from
    y = jnp.ones((2, 3))
    assert "cond" in str(jax.make_jaxpr(lambda a: boundary(a, a))(y))
    # several devices: no predicate read from a (possibly sharded) value
    monkeypatch.setattr(jax, "device_count", lambda *a: 2)
    assert "cond" not in str(jax.make_jaxpr(lambda a: boundary(a, a))(y))  # a new trace
