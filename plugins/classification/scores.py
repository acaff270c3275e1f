"""Class scores recovered from probabilities, for explainers: models output softmax (or
sigmoid) probabilities, but gradients of a probability vanish once the model is sure."""

from __future__ import annotations

from typing import Any

#: Probabilities are floored at float32's smallest normal number before the logarithm:
#: a confident model puts 1e-34 on a class (logit gap 76), and that still counts. A
#: probability that underflowed to 0 (gap > ~87) no longer tells its logit.
TINY = 1.1754944e-38


def centered_logits(probs: Any, axis: int = -1) -> Any:
    """log p_k − mean_j log p_j: the logits z_k − mean_j z_j of a softmax output."""
    import jax.numpy as jnp

    logp = jnp.log(jnp.maximum(probs, TINY))
    return logp - logp.mean(axis=axis, keepdims=True)


def sigmoid_logit(p: Any) -> Any:
    """log p − log(1 − p): the logit of a sigmoid output."""
    import jax.numpy as jnp

    return jnp.log(jnp.maximum(p, TINY)) - jnp.log(jnp.maximum(1.0 - p, TINY))
