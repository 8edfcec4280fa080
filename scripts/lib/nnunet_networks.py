"""nnU-Net v2's two standard networks, rebuilt so that nnU-Net checkpoints load into them unchanged.

Written after MIC-DKFZ's dynamic_network_architectures (Apache-2.0; v0.4.4, commit d35f85c, the version the
reference models in shared/data/nnunet were trained with): PlainConvUNet and ResidualEncoderUNet with
BasicBlockD. The module tree, and so every state-dict key, is the same as there, including the two quirks
that make nnU-Net's checkpoints look redundant:
  * ConvDropoutNormReLU registers its layers twice (as conv/norm/nonlin and inside all_modules), so each
    weight appears under two keys;
  * UNetDecoder keeps a reference to the encoder (decoder.encoder.*), so every encoder weight appears again.
  * UNetDecoder always builds one 1x1x1 segmentation head per decoder stage (decoder.seg_layers.*), so that a
    deep-supervision checkpoint loads into a network without it; only the last head is used at inference.
The same tensors behind duplicated keys are shared, so nothing is stored twice in TorchScript.

Differences that change no key and no output: identity skips are nn.Identity instead of lambdas, and the
decoder loops over zipped module lists, so that the whole network compiles with torch.jit.script.
"""
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

# The layer classes a plan may name (conv_op, norm_op, dropout_op, nonlin). A plan names them by dotted path
# and nnU-Net imports them with pydoc.locate; here only these are accepted, so a plan cannot make us import
# arbitrary code, and an unknown layer is refused by name instead of being guessed.
ALLOWED_LAYERS = {
    "Conv2d": nn.Conv2d, "Conv3d": nn.Conv3d,
    "InstanceNorm2d": nn.InstanceNorm2d, "InstanceNorm3d": nn.InstanceNorm3d,
    "BatchNorm2d": nn.BatchNorm2d, "BatchNorm3d": nn.BatchNorm3d,
    "Dropout": nn.Dropout, "Dropout2d": nn.Dropout2d, "Dropout3d": nn.Dropout3d,
    "LeakyReLU": nn.LeakyReLU, "ReLU": nn.ReLU, "PReLU": nn.PReLU, "ELU": nn.ELU, "GELU": nn.GELU,
}
TRANSPOSED_CONV = {nn.Conv2d: nn.ConvTranspose2d, nn.Conv3d: nn.ConvTranspose3d}
AVG_POOL = {nn.Conv2d: nn.AvgPool2d, nn.Conv3d: nn.AvgPool3d}

NETWORK_CLASSES = ("PlainConvUNet", "ResidualEncoderUNet")


class UnsupportedArchitecture(ValueError):
    """The plan asks for a network or layer this module does not rebuild."""


def locate_layer(dotted: Optional[str]):
    """torch.nn class for a plan's dotted name ('torch.nn.modules.conv.Conv3d'), or None for null."""
    if dotted is None:
        return None
    module_path, _, name = dotted.rpartition(".")
    if not module_path.startswith("torch.nn") or name not in ALLOWED_LAYERS:
        raise UnsupportedArchitecture(f"layer {dotted!r} is not one of torch.nn's {sorted(ALLOWED_LAYERS)}")
    return ALLOWED_LAYERS[name]


def as_list(conv_op, value) -> List[int]:
    """A scalar kernel size or stride as one entry per spatial axis (maybe_convert_scalar_to_list)."""
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value] * (3 if conv_op is nn.Conv3d else 2)


class ConvDropoutNormReLU(nn.Module):
    def __init__(self, conv_op, in_ch, out_ch, kernel_size, stride, conv_bias, norm_op, norm_op_kwargs,
                 dropout_op, dropout_op_kwargs, nonlin, nonlin_kwargs, nonlin_first=False):
        super().__init__()
        kernel_size = as_list(conv_op, kernel_size)
        stride = as_list(conv_op, stride)
        ops = []
        # 'same' padding for odd kernels, as nnU-Net: (k - 1) // 2 per axis.
        self.conv = conv_op(in_ch, out_ch, kernel_size, stride, padding=[(k - 1) // 2 for k in kernel_size],
                            dilation=1, bias=conv_bias)
        ops.append(self.conv)
        if dropout_op is not None:
            self.dropout = dropout_op(**(dropout_op_kwargs or {}))
            ops.append(self.dropout)
        if norm_op is not None:
            self.norm = norm_op(out_ch, **(norm_op_kwargs or {}))
            ops.append(self.norm)
        if nonlin is not None:
            self.nonlin = nonlin(**(nonlin_kwargs or {}))
            ops.append(self.nonlin)
        if nonlin_first and norm_op is not None and nonlin is not None:
            ops[-1], ops[-2] = ops[-2], ops[-1]
        self.all_modules = nn.Sequential(*ops)

    def forward(self, x):
        return self.all_modules(x)


class StackedConvBlocks(nn.Module):
    def __init__(self, num_convs, conv_op, in_ch, out_ch, kernel_size, initial_stride, conv_bias, norm_op,
                 norm_op_kwargs, dropout_op, dropout_op_kwargs, nonlin, nonlin_kwargs, nonlin_first=False):
        super().__init__()
        layer = dict(conv_bias=conv_bias, norm_op=norm_op, norm_op_kwargs=norm_op_kwargs, dropout_op=dropout_op,
                     dropout_op_kwargs=dropout_op_kwargs, nonlin=nonlin, nonlin_kwargs=nonlin_kwargs,
                     nonlin_first=nonlin_first)
        blocks = [ConvDropoutNormReLU(conv_op, in_ch, out_ch, kernel_size, initial_stride, **layer)]
        blocks += [ConvDropoutNormReLU(conv_op, out_ch, out_ch, kernel_size, 1, **layer) for _ in range(1, num_convs)]
        self.convs = nn.Sequential(*blocks)

    def forward(self, x):
        return self.convs(x)


class EncoderSettings:
    """What UNetDecoder reads from its encoder (dynamic_network_architectures stores it on the encoder)."""

    def set_settings(self, conv_op, features, kernel_sizes, strides, conv_bias, norm_op, norm_op_kwargs,
                     dropout_op, dropout_op_kwargs, nonlin, nonlin_kwargs):
        self.conv_op = conv_op
        self.output_channels = list(features)
        self.kernel_sizes = [as_list(conv_op, k) for k in kernel_sizes]
        self.strides = [as_list(conv_op, s) for s in strides]
        self.layer = dict(conv_bias=conv_bias, norm_op=norm_op, norm_op_kwargs=norm_op_kwargs, dropout_op=dropout_op,
                          dropout_op_kwargs=dropout_op_kwargs, nonlin=nonlin, nonlin_kwargs=nonlin_kwargs)


class PlainConvEncoder(nn.Module, EncoderSettings):
    # Stride is done by the first conv of each stage (nnU-Net's pool='conv', the only kind its plans use).
    def __init__(self, input_channels, n_stages, features_per_stage, conv_op, kernel_sizes, strides,
                 n_conv_per_stage, conv_bias, norm_op, norm_op_kwargs, dropout_op, dropout_op_kwargs, nonlin,
                 nonlin_kwargs, nonlin_first=False):
        super().__init__()
        self.set_settings(conv_op, features_per_stage, kernel_sizes, strides, conv_bias, norm_op, norm_op_kwargs,
                          dropout_op, dropout_op_kwargs, nonlin, nonlin_kwargs)
        stages = []
        for s in range(n_stages):
            # Each stage is an nn.Sequential around the conv stack (keys encoder.stages.S.0.convs...).
            stages.append(nn.Sequential(StackedConvBlocks(
                n_conv_per_stage[s], conv_op, input_channels, features_per_stage[s], kernel_sizes[s], strides[s],
                nonlin_first=nonlin_first, **self.layer)))
            input_channels = features_per_stage[s]
        self.stages = nn.Sequential(*stages)

    def forward(self, x) -> List[torch.Tensor]:
        skips = []
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
        return skips


class BasicBlockD(nn.Module):
    """ResNet-D basic block: two convs, the skip average-pools (when strided) then projects with a 1x1 conv."""

    def __init__(self, conv_op, in_ch, out_ch, kernel_size, stride, conv_bias, norm_op, norm_op_kwargs,
                 dropout_op, dropout_op_kwargs, nonlin, nonlin_kwargs):
        super().__init__()
        stride = as_list(conv_op, stride)
        self.conv1 = ConvDropoutNormReLU(conv_op, in_ch, out_ch, kernel_size, stride, conv_bias, norm_op,
                                         norm_op_kwargs, dropout_op, dropout_op_kwargs, nonlin, nonlin_kwargs)
        self.conv2 = ConvDropoutNormReLU(conv_op, out_ch, out_ch, kernel_size, 1, conv_bias, norm_op,
                                         norm_op_kwargs, None, None, None, None)
        self.nonlin2 = nonlin(**(nonlin_kwargs or {})) if nonlin is not None else nn.Identity()
        has_stride = any(s != 1 for s in stride)
        skip_ops = []
        if has_stride:
            skip_ops.append(AVG_POOL[conv_op](stride, stride))
        if in_ch != out_ch:
            skip_ops.append(ConvDropoutNormReLU(conv_op, in_ch, out_ch, 1, 1, False, norm_op, norm_op_kwargs,
                                                None, None, None, None))
        self.skip = nn.Sequential(*skip_ops) if skip_ops else nn.Identity()

    def forward(self, x):
        residual = self.skip(x)
        out = self.conv2(self.conv1(x))
        out = out + residual
        return self.nonlin2(out)


class StackedResidualBlocks(nn.Module):
    def __init__(self, n_blocks, conv_op, in_ch, out_ch, kernel_size, initial_stride, **layer):
        super().__init__()
        blocks = [BasicBlockD(conv_op, in_ch, out_ch, kernel_size, initial_stride, **layer)]
        blocks += [BasicBlockD(conv_op, out_ch, out_ch, kernel_size, 1, **layer) for _ in range(1, n_blocks)]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x):
        return self.blocks(x)


class ResidualEncoder(nn.Module, EncoderSettings):
    def __init__(self, input_channels, n_stages, features_per_stage, conv_op, kernel_sizes, strides,
                 n_blocks_per_stage, conv_bias, norm_op, norm_op_kwargs, dropout_op, dropout_op_kwargs, nonlin,
                 nonlin_kwargs, stem_channels=None):
        super().__init__()
        self.set_settings(conv_op, features_per_stage, kernel_sizes, strides, conv_bias, norm_op, norm_op_kwargs,
                          dropout_op, dropout_op_kwargs, nonlin, nonlin_kwargs)
        # The stem is one plain conv block at full resolution (no stride).
        stem_channels = stem_channels or features_per_stage[0]
        self.stem = StackedConvBlocks(1, conv_op, input_channels, stem_channels, kernel_sizes[0], 1, **self.layer)
        input_channels = stem_channels
        stages = []
        for s in range(n_stages):
            stages.append(StackedResidualBlocks(n_blocks_per_stage[s], conv_op, input_channels, features_per_stage[s],
                                                kernel_sizes[s], strides[s], **self.layer))
            input_channels = features_per_stage[s]
        self.stages = nn.Sequential(*stages)

    def forward(self, x) -> List[torch.Tensor]:
        x = self.stem(x)
        skips = []
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
        return skips


class UNetDecoder(nn.Module):
    """Transposed conv up, concatenate the skip, conv stack; the last stage's 1x1 head gives the logits."""

    def __init__(self, encoder, num_classes, n_conv_per_stage, nonlin_first=False):
        super().__init__()
        # Registered (not just read) so that the checkpoint's decoder.encoder.* keys have a place to go.
        self.encoder = encoder
        conv_op, features = encoder.conv_op, encoder.output_channels
        stages, transpconvs, seg_layers = [], [], []
        for s in range(1, len(features)):
            below, skip = features[-s], features[-(s + 1)]
            stride = encoder.strides[-s]
            transpconvs.append(TRANSPOSED_CONV[conv_op](below, skip, stride, stride, bias=encoder.layer["conv_bias"]))
            stages.append(StackedConvBlocks(n_conv_per_stage[s - 1], conv_op, 2 * skip, skip,
                                            encoder.kernel_sizes[-(s + 1)], 1, nonlin_first=nonlin_first,
                                            **encoder.layer))
            # One head per stage, as nnU-Net builds them for deep supervision; only the last is used here.
            seg_layers.append(conv_op(skip, num_classes, 1, 1, 0, bias=True))
        self.stages = nn.ModuleList(stages)
        self.transpconvs = nn.ModuleList(transpconvs)
        self.seg_layers = nn.ModuleList(seg_layers)
        self.head = len(seg_layers) - 1

    def forward(self, skips: List[torch.Tensor]):
        x = skips[-1]
        for s, (up, stage) in enumerate(zip(self.transpconvs, self.stages)):
            x = stage(torch.cat((up(x), skips[-(s + 2)]), 1))
        logits = x
        # The last head (full resolution); indexing a ModuleList needs a loop in TorchScript.
        for s, head in enumerate(self.seg_layers):
            if s == self.head:
                logits = head(x)
        return logits


class UNet(nn.Module):
    def __init__(self, encoder, num_classes, n_conv_per_stage_decoder, nonlin_first=False):
        super().__init__()
        self.encoder = encoder
        self.decoder = UNetDecoder(encoder, num_classes, n_conv_per_stage_decoder, nonlin_first)

    def forward(self, x):
        return self.decoder(self.encoder(x))


PLAIN_KWARGS = {"n_stages", "features_per_stage", "conv_op", "kernel_sizes", "strides", "n_conv_per_stage",
                "n_conv_per_stage_decoder", "conv_bias", "norm_op", "norm_op_kwargs", "dropout_op",
                "dropout_op_kwargs", "nonlin", "nonlin_kwargs", "nonlin_first", "deep_supervision"}
RESIDUAL_KWARGS = (PLAIN_KWARGS - {"n_conv_per_stage", "nonlin_first"}) | {"n_blocks_per_stage", "block",
                                                                            "bottleneck_channels", "stem_channels"}


def check_kwargs(class_name: str, kwargs: Dict, allowed: set) -> None:
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise UnsupportedArchitecture(f"{class_name} arch_kwargs {unknown} are not rebuilt by this exporter")
    block = kwargs.get("block")
    if block is not None and not str(block).endswith("BasicBlockD"):
        raise UnsupportedArchitecture(f"{class_name} block {block!r}: only BasicBlockD is rebuilt")
    if kwargs.get("bottleneck_channels") is not None:
        raise UnsupportedArchitecture(f"{class_name} bottleneck_channels (BottleneckD blocks) are not rebuilt")


def build_network(architecture: Dict, input_channels: int, num_classes: int) -> nn.Module:
    """The network of a plans configuration's 'architecture' entry, deep supervision off.

    architecture = {'network_class_name': 'dynamic_network_architectures...PlainConvUNet', 'arch_kwargs': {...},
    '_kw_requires_import': ['conv_op', ...]} exactly as in plans.json."""
    class_name = architecture["network_class_name"].rpartition(".")[2]
    if class_name not in NETWORK_CLASSES:
        raise UnsupportedArchitecture(f"network class {architecture['network_class_name']!r} is not one of "
                                      f"{NETWORK_CLASSES}")
    kw = dict(architecture["arch_kwargs"])
    for key in architecture.get("_kw_requires_import", []):
        kw[key] = locate_layer(kw.get(key))
    layer = dict(conv_bias=kw.get("conv_bias", False), norm_op=kw.get("norm_op"),
                 norm_op_kwargs=kw.get("norm_op_kwargs"), dropout_op=kw.get("dropout_op"),
                 dropout_op_kwargs=kw.get("dropout_op_kwargs"), nonlin=kw.get("nonlin"),
                 nonlin_kwargs=kw.get("nonlin_kwargs"))
    if kw["conv_op"] not in TRANSPOSED_CONV:
        raise UnsupportedArchitecture(f"conv_op {kw['conv_op']} is not Conv2d or Conv3d")
    common = (input_channels, kw["n_stages"], kw["features_per_stage"], kw["conv_op"], kw["kernel_sizes"],
              kw["strides"])
    if class_name == "PlainConvUNet":
        check_kwargs(class_name, kw, PLAIN_KWARGS)
        nonlin_first = bool(kw.get("nonlin_first", False))
        encoder = PlainConvEncoder(*common, kw["n_conv_per_stage"], nonlin_first=nonlin_first, **layer)
    else:
        check_kwargs(class_name, kw, RESIDUAL_KWARGS)
        nonlin_first = False
        encoder = ResidualEncoder(*common, kw["n_blocks_per_stage"], stem_channels=kw.get("stem_channels"), **layer)
    decoder_convs = kw["n_conv_per_stage_decoder"]
    if isinstance(decoder_convs, int):
        decoder_convs = [decoder_convs] * (kw["n_stages"] - 1)
    return UNet(encoder, num_classes, decoder_convs, nonlin_first)


class FoldEnsemble(nn.Module):
    """forward(x) = mean over folds of each fold's logits, which is what nnU-Net's ensemble averages.
    fold_logits(x) = the folds' logits stacked [folds, N, K, ...], for a caller that wants nnU-Net's exact
    arithmetic (it stitches each fold's sliding window in float16 before averaging)."""

    def __init__(self, folds: Sequence[nn.Module]):
        super().__init__()
        self.folds = nn.ModuleList(folds)
        self.count = float(len(folds))

    def forward(self, x):
        total = torch.zeros(0)
        for s, fold in enumerate(self.folds):
            y = fold(x)
            total = y if s == 0 else total + y
        return total / self.count

    @torch.jit.export
    def fold_logits(self, x):
        outputs: List[torch.Tensor] = []
        for fold in self.folds:
            outputs.append(fold(x))
        return torch.stack(outputs)
