"""The released training's gate gradient from per-sample kernel gradients (``EBConv2D``'s
``execution="kernel_mix"``), as plain functions of tensors."""

from __future__ import annotations

from ebn_tf._keras import tf


def windows(x: tf.Tensor, kernel_size, strides, out_h: int, out_w: int) -> list[tf.Tensor]:
    """The ``kh * kw`` input windows, one per kernel offset, each ``(.., out_h, out_w, C)``.

    ``x`` is the conv's input with its border already applied (a "VALID" conv's input). A
    stride is taken by a space-to-depth reshape, then plain slices: TensorFlow's strided
    slice is many times slower on CPU (measured: 120 ms against 25 ms for the whole gate
    gradient of ebnet_fmnist's first layer).
    """
    (kh, kw), (sh, sw) = kernel_size, strides
    # Crop or pad to whole blocks of the stride: window offset i // s, phase i % s.
    th, tw = sh * ((kh - 1) // sh + out_h), sw * ((kw - 1) // sw + out_w)
    h, w = x.shape[1:3]
    x = tf.pad(x[:, :th, :tw], [(0, 0), (0, max(th - h, 0)), (0, max(tw - w, 0)), (0, 0)])
    blocks = tf.reshape(x, [-1, th // sh, sh, tw // sw, sw, x.shape[-1]])
    return [
        blocks[:, i // sh : i // sh + out_h, i % sh, j // sw : j // sw + out_w, j % sw]
        for i in range(kh)
        for j in range(kw)
    ]


def sample_gradients(
    x: tf.Tensor,
    grad: tf.Tensor,
    index: tf.Tensor,
    ste_mask: tf.Tensor | None,
    latent: tf.Tensor,
    *,
    kernel_size,
    strides,
    groups: int,
) -> tuple[tf.Tensor, tf.Tensor]:
    """The expert kernels' gradient and the gate's, from each sample's kernel gradient.

    Args:
        x: the conv's input, its border applied (as a "VALID" conv reads it).
        grad: the gradient of the conv's output ``(batch, out_h, out_w, filters)``.
        index: each sample's expert ``(batch,)``.
        ste_mask: the kernel quantizer's elementwise derivative ``(N, kernel size)``, or
            None for real-valued kernels.
        latent: the N latent kernels, flattened ``(N, kernel size)``.
        kernel_size, strides: pairs; groups: the conv's groups.

    Returns:
        ``(kernel_grad, gate_grad)``: ``kernel_grad`` ``(N, kh, kw, C/G, filters)`` sums
        each expert's samples' kernel gradients ``dL/dW_i`` (the conv's filter gradient);
        ``gate_grad`` ``(batch, N)`` is ``<dL/dW_i * mask_e, theta_n>`` for each sample
        ``i``, ``e`` its expert.

    Per kernel offset, the window of the input against the output gradient gives each
    sample's gradient of that offset's kernel slice (a batched matmul per group), which is
    summed by expert and contracted at once with the N latent kernels, so the per-sample
    gradients are never stacked. With a quantizer mask, every pair (e, n) is contracted and
    each sample keeps its own e's row. On ebnet_fmnist's layers this is 1.2-7x faster on
    CPU than stacking the per-sample gradients and gathering each sample's mask (measured;
    the most at stride 2).
    """
    batch, experts = tf.shape(x)[0], latent.shape[0]
    (out_h, out_w), channels, filters = grad.shape[1:3], x.shape[-1], grad.shape[-1]
    per_group = (channels // groups, filters // groups)
    if groups > 1:  # groups become batch entries: (batch * groups, h, w, C/G)
        x = tf.reshape(x, [batch, *x.shape[1:3], groups, per_group[0]])
        x = tf.reshape(tf.transpose(x, [0, 3, 1, 2, 4]), [-1, *x.shape[1:3], per_group[0]])
    grad = tf.reshape(grad, [batch, out_h * out_w, groups, per_group[1]])
    grad = tf.transpose(grad, [0, 2, 1, 3])
    offsets = windows(x, kernel_size, strides, out_h, out_w)

    def by_offset(kernels):  # (rows, kernel size) -> (kh * kw, rows, G * C/G * O/G)
        kernels = tf.reshape(kernels, [-1, len(offsets), per_group[0], groups, per_group[1]])
        kernels = tf.transpose(kernels, [1, 0, 3, 2, 4])
        return tf.reshape(kernels, [len(offsets), kernels.shape[1], -1])

    if ste_mask is None:
        pairs = by_offset(latent)
    else:  # row e * N + n: mask_e * theta_n
        pairs = by_offset(tf.reshape(ste_mask[:, None] * latent[None], [experts**2, -1]))
    selected = tf.one_hot(index, experts, dtype=x.dtype)
    kernel_grads, products = [], []
    for offset, window in enumerate(offsets):
        window = tf.reshape(window, [batch, groups, out_h * out_w, per_group[0]])
        sample_grads = tf.reshape(tf.matmul(window, grad, transpose_a=True), [batch, -1])
        kernel_grads.append(tf.matmul(selected, sample_grads, transpose_a=True))
        products.append(tf.matmul(sample_grads, pairs[offset], transpose_b=True))
    # (kh * kw, N, G, C/G, O/G) -> (N, kh, kw, C/G, G * O/G)
    kernel_grad = tf.reshape(tf.stack(kernel_grads), [len(offsets), experts, groups, *per_group])
    kernel_grad = tf.reshape(
        tf.transpose(kernel_grad, [1, 0, 3, 2, 4]),
        [experts, *kernel_size, per_group[0], filters],
    )
    products = tf.add_n(products)
    if ste_mask is not None:
        products = tf.gather(tf.reshape(products, [batch, experts, experts]), index, batch_dims=1)
    return kernel_grad, products
