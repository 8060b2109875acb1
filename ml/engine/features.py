"""What active learning reads from a model besides its predictions: a per-image embedding
(the input of the network's head, pooled) and Monte Carlo dropout samples of the class
probabilities.

The embedding is taken by a forward pre-hook on the head during the ordinary prediction pass,
so it costs no extra forward pass: the head is the network's last `nn.Linear` (MONAI's ResNet
`fc`, DenseNet `class_layers.out`, EfficientNet `_fc`, SE-ResNet `last_linear`), whose input is
already globally pooled; a network with no linear layer (U-Net, SegResNet, FlexibleUNet) uses
its last convolution producing the output channels from more channels than that, and its input
is averaged over space. MC dropout runs the cached images again `passes` times with the dropout
layers in training mode and everything else (batch norm above all) in evaluation mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ml.engine.errors import DropoutUnavailable

_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


def head_module(model: nn.Module, out_channels: int) -> nn.Module:
    """The layer whose input is the embedding (see the module docstring)."""
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if linear:
        return linear[-1]
    convs = [
        m
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)
        and m.out_channels == out_channels
        and m.in_channels > out_channels
    ]
    if not convs:
        raise ValueError("the network has no linear or output convolution head to embed at")
    return convs[-1]


@contextmanager
def capture_embeddings(model: nn.Module, out_channels: int) -> Iterator[list[torch.Tensor]]:
    """While open, every forward pass appends its batch's embeddings (B x D, float32, CPU) to
    the yielded list."""
    rows: list[torch.Tensor] = []

    def grab(module: nn.Module, args: tuple) -> None:
        x = args[0].detach().float()
        if x.dim() > 2:
            x = x.mean(dim=tuple(range(2, x.dim())))
        rows.append(x.cpu())

    handle = head_module(model, out_channels).register_forward_pre_hook(grab)
    try:
        yield rows
    finally:
        handle.remove()


def dropout_layers(model: nn.Module) -> list[nn.Module]:
    """The dropout layers that drop something (p > 0)."""
    return [m for m in model.modules() if isinstance(m, _DROPOUT) and float(m.p) > 0]


def require_dropout(model: nn.Module) -> list[nn.Module]:
    """The dropout layers; DropoutUnavailable when there are none."""
    layers = dropout_layers(model)
    if not layers:
        raise DropoutUnavailable(
            f"the network ({type(model).__name__}) has no dropout layer, so Monte Carlo dropout "
            "would repeat one output: BALD needs a network trained with dropout (for example "
            "densenet121 with network_args dropout_prob > 0, or efficientnet-b0)"
        )
    return layers


@torch.no_grad()
def mc_dropout_samples(
    model: nn.Module,
    images: torch.Tensor,
    passes: int,
    to_probabilities: Callable[[torch.Tensor], torch.Tensor],
    *,
    run: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int = 64,
    seed: int = 0,
) -> torch.Tensor:
    """`passes` x N x C class probabilities of the images with only the dropout layers active.

    Args:
        model: the network (left in evaluation mode afterwards).
        images: N input images, as the prediction pass read them.
        passes: how many stochastic passes.
        to_probabilities: logits -> class probabilities (the calibrated softmax).
        run: one forward pass of a batch (the pipeline's, with its precision and layout).
        batch_size: images per forward pass.
        seed: seeds the dropout masks, so a cached sample set can be reproduced.

    Raises DropoutUnavailable when the network has no dropout layer.
    """
    layers = require_dropout(model)
    model.eval()
    for layer in layers:
        layer.train()
    torch.manual_seed(seed)
    try:
        out = []
        for _ in range(passes):
            chunks = [
                to_probabilities(run(images[start : start + batch_size]).float()).cpu()
                for start in range(0, len(images), batch_size)
            ]
            out.append(torch.cat(chunks) if chunks else torch.zeros((0, 0)))
    finally:
        model.eval()
    return torch.stack(out)
