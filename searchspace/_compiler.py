"""The compiler: an ``ArchitectureSpec`` becomes a backend-agnostic ``keras.Model``.

Keras is imported when a model is built, not when the package is, so that sampling and
analysis (and the CLI) stay fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from searchspace._analysis import analyze
from searchspace._spec import ArchitectureSpec

if TYPE_CHECKING:
    import keras

__all__ = ["build_model"]


BATCH_NORM_MOMENTUM = 0.9


# Every image layer says so: Keras' default follows the user's keras.json (or
# keras.config.set_image_data_format), where "channels_first" built another network than
# the one analysed, or none.
_LAST = "channels_last"


class _KerasGraph:
    """A ``Graph`` over Keras tensors: every operation becomes one named Keras layer."""

    def __init__(self, layers: Any) -> None:
        self._layers = layers
        self._pools = {"max": layers.MaxPooling2D, "avg": layers.AveragePooling2D}

    def channels(self, x: Any) -> int:
        return int(x.shape[-1])

    def conv(
        self, x: Any, *, name: str, filters: int, kernel_size: int, stride: int, padding: str, use_bias: bool
    ) -> Any:
        conv = self._layers.Conv2D(
            filters, kernel_size, strides=stride, padding=padding, use_bias=use_bias, data_format=_LAST, name=name
        )
        return conv(x)

    def batch_norm(self, x: Any, *, name: str) -> Any:
        # Searches train for few steps: Keras' default momentum (0.99) leaves the moving
        # statistics near their initial values after a few hundred steps, so validation
        # accuracy (which uses them) stays near chance. 0.9 tracks the batches in ~20 steps.
        return self._layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=name)(x)

    def activation(self, x: Any, *, name: str, fn: str) -> Any:
        return self._layers.Activation(fn, name=name)(x)

    def dropout(self, x: Any, *, name: str, rate: float) -> Any:
        return self._layers.Dropout(rate, name=name)(x)

    def pool(self, x: Any, *, name: str, kind: str, size: int, stride: int, padding: str) -> Any:
        return self._pools[kind](pool_size=size, strides=stride, padding=padding, data_format=_LAST, name=name)(x)

    def add(self, xs: Sequence[Any], *, name: str) -> Any:
        return self._layers.Add(name=name)(list(xs))

    def concat(self, xs: Sequence[Any], *, name: str) -> Any:
        return self._layers.Concatenate(axis=-1, name=name)(list(xs))

    def global_pool(self, x: Any, *, name: str) -> Any:
        return self._layers.GlobalAveragePooling2D(data_format=_LAST, name=name)(x)

    def flatten(self, x: Any, *, name: str) -> Any:
        return self._layers.Flatten(data_format=_LAST, name=name)(x)

    def dense(self, x: Any, *, name: str, units: int, activation: str) -> Any:
        # Under mixed precision the softmax stays float32, as Keras advises for an output layer:
        # bfloat16 probabilities (8 bits of mantissa) would feed the loss and the exported model.
        dtype = "float32" if activation == "softmax" else None
        return self._layers.Dense(units, activation=activation, name=name, dtype=dtype)(x)


def build_model(spec: ArchitectureSpec, input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """Compile ``spec`` into a ``keras.Model`` for ``input_shape`` images and ``num_classes`` classes.

    The input is float32 images, already normalised; the output is the softmax
    probabilities. Layer names are those of ``analyze(spec, ...)``: ``s1b2_conv``, ...,
    ``head_output``. The spec is analysed first, so an infeasible one is never built.

    Raises:
        InfeasibleArchitecture: the spec does not tile ``input_shape``.
    """
    import keras

    analysis = analyze(spec, input_shape, num_classes)
    inputs = keras.Input(shape=analysis.input_shape, dtype="float32", name="input")
    outputs = spec.trace(_KerasGraph(keras.layers), inputs, num_classes=analysis.num_classes)
    return keras.Model(inputs, outputs, name=f"arch_{spec.digest()[:12]}")
