"""Conv borders: TensorFlow's "same", "valid", and PyTorch's symmetric ``k // 2``.

"same" pads ``(total // 2, total - total // 2)``: on an even size with stride 2 that is
``(0, 1)``, so the first window starts at pixel 0. PyTorch's ``padding=k // 2`` pads both
sides, so there the first window starts at -1 and the grid is one pixel earlier; its
trailing row is never read. "symmetric" is that border, trimmed of what no window reads,
so it equals "same" wherever the two grids agree (stride 1, odd sizes). Trimming also
keeps LCE 0.16 from fusing an explicit ``(1, 1)`` border into SAME, which moves the grid
(docs/design/lce.md section 6).
"""

from __future__ import annotations

from ebn_tf._keras import tf

PADDINGS = ("same", "valid", "symmetric")

Borders = tuple[tuple[int, int], tuple[int, int]]


def output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    """Output length of a conv or pool over ``size`` input pixels."""
    if padding == "same":
        return -(-size // stride)
    pad = 2 * (kernel // 2) if padding == "symmetric" else 0
    return (size + pad - kernel) // stride + 1


def borders_1d(size: int, kernel: int, stride: int, padding: str) -> tuple[int, int]:
    """``(before, after)`` pixels of border that the windows read along one axis."""
    reach = (output_size(size, kernel, stride, padding) - 1) * stride + kernel
    before = {"same": max(reach - size, 0) // 2, "valid": 0, "symmetric": kernel // 2}[padding]
    return before, max(reach - size - before, 0)


def borders(shape, kernel_size, strides, padding: str) -> Borders:
    """The (before, after) borders of height and width for an NHWC ``shape``."""
    return tuple(
        borders_1d(int(size), k, s, padding) for size, k, s in zip(shape[1:3], kernel_size, strides)
    )


def conv_padding(explicit: Borders | None, padding: str) -> str:
    """``tf.nn.conv2d``'s padding once the ``explicit`` border (if any) is applied."""
    return "VALID" if explicit or padding == "valid" else "SAME"


def pad_border(x: tf.Tensor, borders: Borders | None, value: float = 0.0) -> tf.Tensor:
    """``x`` with ``borders`` (``((top, bottom), (left, right))``) of ``value`` around its
    height and width; ``x`` itself when ``borders`` is None."""
    if borders is None:
        return x
    return tf.pad(x, [(0, 0), *borders, (0, 0)], constant_values=value)
