"""MONAI networks by recipe name, built from scratch (no pretrained weights are downloaded)."""

from __future__ import annotations

from typing import Any

import torch
from monai.networks import nets
from torch import nn

from ml.engine.errors import RecipeError


def _resnet(depth: int, small_input: bool = False):
    def build(in_channels: int, out_channels: int, **kwargs: Any) -> nn.Module:
        factory = {10: nets.resnet10, 18: nets.resnet18, 34: nets.resnet34, 50: nets.resnet50}
        if small_input:  # the CIFAR/MedMNIST stem: 3x3 stride-1 conv, no max-pool (28x28 input)
            kwargs = {"conv1_t_size": 3, "conv1_t_stride": 1, "no_max_pool": True, **kwargs}
        return factory[depth](
            pretrained=False,
            spatial_dims=2,
            n_input_channels=in_channels,
            num_classes=out_channels,
            **kwargs,
        )

    return build


def _densenet121(in_channels: int, out_channels: int, **kwargs: Any) -> nn.Module:
    return nets.DenseNet121(
        spatial_dims=2,
        in_channels=in_channels,
        out_channels=out_channels,
        pretrained=False,
        **kwargs,
    )


def _efficientnet(variant: str):
    def build(in_channels: int, out_channels: int, **kwargs: Any) -> nn.Module:
        return nets.EfficientNetBN(
            variant,
            pretrained=False,
            spatial_dims=2,
            in_channels=in_channels,
            num_classes=out_channels,
            **kwargs,
        )

    return build


def _seresnet50(in_channels: int, out_channels: int, **kwargs: Any) -> nn.Module:
    return nets.SEResNet50(
        spatial_dims=2,
        in_channels=in_channels,
        num_classes=out_channels,
        pretrained=False,
        **kwargs,
    )


def _unet(in_channels: int, out_channels: int, **kwargs: Any) -> nn.Module:
    channels = tuple(kwargs.pop("channels", (16, 32, 64, 128)))
    strides = tuple(kwargs.pop("strides", (2,) * (len(channels) - 1)))
    return nets.UNet(
        spatial_dims=2,
        in_channels=in_channels,
        out_channels=out_channels,
        channels=channels,
        strides=strides,
        num_res_units=kwargs.pop("num_res_units", 1),
        **kwargs,
    )


def _segresnet(in_channels: int, out_channels: int, **kwargs: Any) -> nn.Module:
    return nets.SegResNet(
        spatial_dims=2,
        in_channels=in_channels,
        out_channels=out_channels,
        init_filters=kwargs.pop("init_filters", 8),
        **kwargs,
    )


def _flexible_unet(in_channels: int, out_channels: int, **kwargs: Any) -> nn.Module:
    return nets.FlexibleUNet(
        in_channels=in_channels,
        out_channels=out_channels,
        backbone=kwargs.pop("backbone", "efficientnet-b0"),
        pretrained=False,
        spatial_dims=2,
        **kwargs,
    )


NETWORKS = {
    "resnet10": _resnet(10),
    "resnet18": _resnet(18),
    "resnet34": _resnet(34),
    "resnet50": _resnet(50),
    "resnet18-28": _resnet(18, small_input=True),
    "resnet50-28": _resnet(50, small_input=True),
    "densenet121": _densenet121,
    "efficientnet-b0": _efficientnet("efficientnet-b0"),
    "efficientnet-b1": _efficientnet("efficientnet-b1"),
    "seresnet50": _seresnet50,
    "unet": _unet,
    "segresnet": _segresnet,
    "flexibleunet": _flexible_unet,
}


def build_network(
    name: str, in_channels: int, out_channels: int, args: dict[str, Any] | None = None
) -> nn.Module:
    """A freshly initialised MONAI network. Raises RecipeError for an unknown name."""
    if name not in NETWORKS:
        raise RecipeError(f"unknown network {name!r}; known: {sorted(NETWORKS)}")
    kwargs = dict(args or {})
    for key in ("block_config", "channels", "strides"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    return NETWORKS[name](in_channels, out_channels, **kwargs)


def last_conv_layer(model: nn.Module) -> str:
    """Name of the last 2-D convolution: the Grad-CAM target for any of these classifiers."""
    name = ""
    for module_name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d):
            name = module_name
    if not name:
        raise ValueError("the network has no 2-D convolution for Grad-CAM")
    return name
