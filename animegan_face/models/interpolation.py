"""Network interpolation: one generator's weights blended with another's of the same lineage.

ESRGAN's recipe (Wang et al. 2018, section 3.4) for trading a faithful network against a
stylised one: two generators fine-tuned from the same weights lie close enough in weight space
that every tensor can be mixed, `(1 - alpha) * faithful + alpha * stylised`, and the result draws
between the two, with fewer of the stylised network's artefacts than the stylised network has.
Here the faithful end is a model trained with the thesis' weights and the stylised end the same
model trained on with lighter content and face terms (the shipped model's card has the numbers).

Example:
    blended = interpolate_weights(faithful.get_weights(), stylised.get_weights(), 0.5)
    generator.set_weights(blended)
"""

import numpy as np


class InterpolationError(ValueError):
    """The two weight lists cannot be blended (a different architecture, or a bad alpha)."""


def interpolate_weights(weights_a, weights_b, alpha):
    """`(1 - alpha) * a + alpha * b` for each pair of arrays (float32 out, in a's order).

    alpha in [0, 1]: 0 gives a, 1 gives b. Raises InterpolationError when the lists differ in
    length or any pair in shape, naming the first tensor that differs."""
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise InterpolationError(f"alpha must lie in [0, 1], got {alpha}")
    if len(weights_a) != len(weights_b):
        raise InterpolationError(f"the networks differ: {len(weights_a)} against "
                                 f"{len(weights_b)} weight tensors")
    blended = []
    for index, (a, b) in enumerate(zip(weights_a, weights_b)):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.shape != b.shape:
            raise InterpolationError(f"the networks differ: tensor {index} has shape {a.shape} "
                                     f"against {b.shape}")
        blended.append(((1.0 - alpha) * a + alpha * b).astype(np.float32))
    return blended
