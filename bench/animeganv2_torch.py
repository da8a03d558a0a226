"""The AnimeGANv2 generator as the PyTorch community runs it (bryandlee/animegan2-pytorch's
architecture), rebuilt here as the peer of the benchmarks and the reference of the weight
converter's test: same modules, same state-dict keys and shapes as that port's published `.pt`
files (`block_a.0.1.weight`, `block_c.1.layers.1.1.bias`, `out_layer.0.weight`, ...).

Layer plan (facts of that architecture): 7x7 conv 32, strided 3x3 to 64 and to 128 (reflect
padding, GroupNorm(1) = layer norm, LeakyReLU 0.2), four inverted residual blocks (1x1 expand x2,
depthwise 3x3 with bias, 1x1 project, layer norm), bilinear upsampling with align_corners, a final
7x7 conv 32 and 1x1 to RGB with tanh. 2.14 M parameters.
"""

import torch
from torch import nn
from torch.nn import functional


def _conv_norm_lrelu(cin, cout, kernel=3, stride=1, padding=1, groups=1, bias=False):
    # Sequential(pad, conv, norm, act): the conv is item 1 and the norm item 2 of the state dict.
    return nn.Sequential(
        nn.ReflectionPad2d(padding),
        nn.Conv2d(cin, cout, kernel, stride=stride, groups=groups, bias=bias),
        nn.GroupNorm(1, cout),
        nn.LeakyReLU(0.2, inplace=True),
    )


class _InvertedResidual(nn.Module):
    def __init__(self, cin, cout, expansion=2):
        super().__init__()
        hidden = cin * expansion
        self.residual = cin == cout
        self.layers = nn.Sequential(
            _conv_norm_lrelu(cin, hidden, kernel=1, padding=0),
            _conv_norm_lrelu(hidden, hidden, groups=hidden, bias=True),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.GroupNorm(1, cout),
        )

    def forward(self, x):
        y = self.layers(x)
        return x + y if self.residual else y


class AnimeGANv2Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.block_a = nn.Sequential(
            _conv_norm_lrelu(3, 32, kernel=7, padding=3),
            _conv_norm_lrelu(32, 64, stride=2, padding=(0, 1, 0, 1)),
            _conv_norm_lrelu(64, 64),
        )
        self.block_b = nn.Sequential(
            _conv_norm_lrelu(64, 128, stride=2, padding=(0, 1, 0, 1)),
            _conv_norm_lrelu(128, 128),
        )
        self.block_c = nn.Sequential(
            _conv_norm_lrelu(128, 128),
            _InvertedResidual(128, 256),
            _InvertedResidual(256, 256),
            _InvertedResidual(256, 256),
            _InvertedResidual(256, 256),
            _conv_norm_lrelu(256, 128),
        )
        self.block_d = nn.Sequential(_conv_norm_lrelu(128, 128), _conv_norm_lrelu(128, 128))
        self.block_e = nn.Sequential(
            _conv_norm_lrelu(128, 64),
            _conv_norm_lrelu(64, 64),
            _conv_norm_lrelu(64, 32, kernel=7, padding=3),
        )
        self.out_layer = nn.Sequential(nn.Conv2d(32, 3, 1, bias=False), nn.Tanh())

    def forward(self, x):
        half = self.block_a(x)
        y = self.block_c(self.block_b(half))
        y = functional.interpolate(y, half.shape[-2:], mode="bilinear", align_corners=True)
        y = self.block_d(y)
        y = functional.interpolate(y, x.shape[-2:], mode="bilinear", align_corners=True)
        return self.out_layer(self.block_e(y))


def parameter_count():
    return sum(p.numel() for p in AnimeGANv2Generator().parameters())


if __name__ == "__main__":
    print(parameter_count(), AnimeGANv2Generator()(torch.zeros(1, 3, 64, 64)).shape)
