"""Generate the TorchScript fixtures of tests/scanner/test_torchscript.py.

Run with a venv that has torch (CPU is enough), from this directory:
``python make_fixtures.py``. The files are tiny (a few KiB each) and committed; the scanner
tests never import torch. Nothing here is loaded back.
"""

# No "from __future__ import annotations": TorchScript reads the annotations at run time.

from enum import Enum
from typing import NamedTuple

import torch
import torch.nn.functional as F
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


class Color(Enum):
    RED = 1
    GREEN = 2


class Pair(NamedTuple):
    x: torch.Tensor
    y: int


@torch.jit.script
class Box:
    def __init__(self, w: int) -> None:
        self.w = w

    def area(self) -> int:
        return self.w * self.w


class Rich(nn.Module):
    """Much generated code: LSTM, transformer layer, attention (torch.nn.functional compiled
    in), fork/wait, str.format, print, assert, Enum, NamedTuple, a script class, ModuleDict."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(4, 4, batch_first=True)
        self.tel = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True)
        self.d = nn.ModuleDict({"a": nn.Linear(4, 4)})
        self.emb = nn.Embedding(10, 4)

    def helper(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2

    def forward(
        self, x: torch.Tensor, names: list[str], opts: dict[str, int]
    ) -> tuple[torch.Tensor, Pair]:
        fut = torch.jit.fork(self.helper, x)
        y = torch.jit.wait(fut)
        out, _state = self.lstm(y.view(1, -1, 4))
        z = F.interpolate(x.view(1, 1, -1), scale_factor=2.0, mode="linear", align_corners=False)
        s = "{} and {}".format(names[0], len(names))  # noqa: UP032 - exercises aten::format
        print(s)
        assert x.dim() >= 1, "bad " + s
        if "k" in opts:
            z = z + opts["k"]
        if Color.RED == Color.GREEN:
            raise ValueError("no")
        e = self.emb(torch.tensor([1, 2]))
        for _k, m in self.d.items():
            e = m(e)
        t = self.tel(torch.zeros(1, 3, 8))
        return out.sum() + z.sum() + Box(3).area() + e.sum() + t.sum(), Pair(x, 1)


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
    benign["scripted_rich.pt"] = torch.jit.script(Rich())
    benign["scripted_frozen.pt"] = torch.jit.freeze(
        torch.jit.script(nn.Sequential(nn.Linear(4, 4), nn.GELU())).eval()
    )
    # Dynamic quantization: the archive holds a torch.classes.quantized packed-params object.
    quantized = torch.ao.quantization.quantize_dynamic(
        nn.Sequential(nn.Linear(4, 4), nn.ReLU()), {nn.Linear}, dtype=torch.qint8
    )
    benign["scripted_quantized.pt"] = torch.jit.script(quantized)
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
