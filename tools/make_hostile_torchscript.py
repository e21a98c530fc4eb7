#!/usr/bin/env python3
"""Writes tests/fixtures/hostile/slash_markup_traced.pt: a traced TorchScript model whose conv
submodule is named 'c/<evil>&x', a name that holds a path separator and HTML/SVG/DOT markup.

PyTorch's add_module() refuses names with '.', so a TorchScript submodule cannot spell '..'; a
'"' makes LibTorch unable to read back the file it wrote. '/', '<', '>' and '&' are what such a
model can carry, and tests/stages/hostile_names_test.cpp runs it end to end.

    /usr/bin/python3 tools/make_hostile_torchscript.py      # Debian's python3-torch 1.13
"""
import pathlib

import torch
from torch import nn

NAME = "c/<evil>&x"


class Hostile(nn.Module):
    def __init__(self):
        super().__init__()
        self.add_module(NAME, nn.Conv2d(3, 4, 3, padding=1))
        self.fc = nn.Linear(4 * 32 * 32, 3)

    def forward(self, x):
        x = torch.relu(getattr(self, NAME)(x))
        return self.fc(x.flatten(1))


def main():
    torch.manual_seed(1)
    model = Hostile().eval()
    out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "hostile" / "slash_markup_traced.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.trace(model, torch.randn(1, 3, 32, 32)).save(str(out))
    print(out)


if __name__ == "__main__":
    main()
