"""Generate the TorchScript fixtures of tests/scanner/test_torchscript.py.

Run with a venv that has torch (CPU is enough), from this directory:
``python make_fixtures.py``. The files are tiny (a few KiB each) and committed; the scanner
tests never import torch. Nothing here is loaded back.
"""

from __future__ import annotations

import torch
from torch import nn


class Stack(nn.Module):
    """A ModuleList: the scripted code reads its items with ``getattr(self, "0")``."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 2)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x


class Shapes(nn.Module):
    """Lists of ints, strings, exceptions, Optional: build_intlist constants and builtins."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(1, 2, kernel_size=3, stride=2, padding=1)

    def forward(self, x: torch.Tensor, scale: float | None = None) -> torch.Tensor:
        if x.dim() != 4:
            raise RuntimeError("expected a 4-d input, got " + str(x.dim()))
        y = self.proj(x).flatten(1)
        if scale is not None:
            y = y * scale
        return y.view([int(y.size(0)), -1])


class ReadsFile(nn.Module):
    """Malicious: forward reads an arbitrary file with torch.from_file."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        leaked = torch.from_file("/etc/passwd", shared=False, size=16, dtype=torch.uint8)
        return x + leaked.float().sum()


class SavesFile(nn.Module):
    """Malicious: forward writes a file with torch.save (aten::save)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.save(x, "/tmp/modelsec-owned")
        return x


def main() -> None:
    torch.manual_seed(0)
    benign = {
        "scripted_sequential.pt": torch.jit.script(
            nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        ),
        "scripted_modulelist.pt": torch.jit.script(Stack()),
        "scripted_shapes.pt": torch.jit.script(Shapes()),
        "traced_sequential.pt": torch.jit.trace(
            nn.Sequential(nn.Linear(4, 8), nn.Tanh()), torch.zeros(1, 4)
        ),
    }
    for name, module in benign.items():
        torch.jit.save(module, name)
    torch.jit.save(torch.jit.script(ReadsFile()), "malicious_from_file.pt")
    try:
        torch.jit.save(torch.jit.script(SavesFile()), "malicious_save.pt")
    except Exception as exc:  # torch.save may not be scriptable in this torch version
        print("malicious_save.pt not generated:", exc)
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
