#!/usr/bin/python3
"""TorchScript modules for Continuum's tests, made with Debian's python3-torch
(1.13, the version of libtorch-dev), and PyTorch's own outputs to compare
Continuum's with.

  torchscript_modules.py make OUTDIR
      Writes NAME.pt (torch.jit.save) for every module below, and for the
      good ones NAME.in.f32 (inputs, [rows, input_dim] float32 little-endian)
      and NAME.out.f32 (what Continuum must serve for them: softmax of the
      logits for classifiers, the values otherwise), plus NAME.txt: one line
      "task input_shape(comma-separated) rows outputs".

  torchscript_modules.py run MODULE.pt TASK INPUT_SHAPE IN.f32 OUT.f32
      Loads MODULE.pt with torch.jit.load (as a data scientist would load a
      module Continuum exported), runs the rows of IN.f32 and writes its
      serving outputs to OUT.f32.

  torchscript_modules.py compare MODULE.pt TASK INPUT_SHAPE ROWS.csv \
      PREDICT.json
      Runs the rows of ROWS.csv (a header line, then one row of features per
      line) through MODULE.pt and compares its serving outputs with the
      `outputs` of a PredictResponse in proto3 JSON (continuumctl predict
      --json); prints the largest difference and exits 1 above 1e-5.

Exit status 77 when torch cannot be imported (the tests skip).
"""
import json
import os
import struct
import sys

try:
    import torch
    from torch import nn
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"python3-torch is not installed: {e}", file=sys.stderr)
    sys.exit(77)

ROWS = 16


class Mlp(nn.Module):
    """A classifier: 8 features, 3 classes; `body` and `head` so that a test
    can fine-tune the head only."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU(),
                                  nn.Linear(16, 16), nn.Tanh())
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.body(x))


class SmallCnn(nn.Module):
    """A Fashion-MNIST classifier on [1, 28, 28] images."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 5, stride=2)
        self.conv2 = nn.Conv2d(4, 8, 3, stride=2)
        self.fc = nn.Linear(8 * 5 * 5, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(torch.flatten(x, 1))


class ControlFlow(nn.Module):
    """A regressor (4 features, 2 targets) whose forward branches on the data
    and loops: torch.jit.script keeps both."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 6)
        self.b = nn.Linear(6, 6)
        self.out = nn.Linear(6, 2)
        self.steps: int = 3

    def forward(self, x):
        h = torch.tanh(self.a(x))
        for _ in range(self.steps):
            if bool(h.abs().mean() > 0.5):
                h = h - 0.1 * torch.tanh(self.b(h))
            else:
                h = h + torch.sigmoid(self.b(h))
        return self.out(h)


class AutoencoderScore(nn.Module):
    """An anomaly scorer: the per-row reconstruction error of a small
    autoencoder, with an exported loss method (the same error, which
    training minimises on benign rows)."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(6, 3)
        self.dec = nn.Linear(3, 6)

    def forward(self, x):
        r = self.dec(torch.relu(self.enc(x)))
        return ((r - x) ** 2).mean(1)

    @torch.jit.export
    def reconstruction_loss(self, x, y):
        return self.forward(x)


class Linear(nn.Module):
    """A regressor with the parameters of the broken modules below (fc,
    4 -> 2), so a test can swap one in after import."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)


class Throws(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        if bool(x.sum() > -1e30):
            raise RuntimeError("this module refuses every input")
        return self.fc(x)


class Nan(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x) * float("nan")


class WrongShape(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x).reshape(-1)


class Double(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2).double()

    def forward(self, x):
        return self.fc(x.double()).float()


def write_f32(path, tensor):
    data = tensor.detach().contiguous().view(-1).tolist()
    with open(path, "wb") as f:
        f.write(struct.pack(f"<{len(data)}f", *data))


def read_f32(path):
    with open(path, "rb") as f:
        raw = f.read()
    return torch.tensor(struct.unpack(f"<{len(raw) // 4}f", raw))


def serving(task, out):
    return torch.softmax(out, 1) if task == "classification" else out


def make(outdir):
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(7)
    good = {
        "mlp": (torch.jit.script(Mlp()), "classification", [8]),
        "cnn": (torch.jit.script(SmallCnn()), "classification", [1, 28, 28]),
        "control_flow": (torch.jit.script(ControlFlow()), "regression", [4]),
        "traced": (torch.jit.trace(Mlp(), torch.randn(2, 8)),
                   "classification", [8]),
        "autoencoder": (torch.jit.script(AutoencoderScore()),
                        "anomaly_score", [6]),
        "linear": (torch.jit.script(Linear()), "regression", [4]),
    }
    for name, (module, task, shape) in good.items():
        module.eval()
        module.save(os.path.join(outdir, name + ".pt"))
        x = torch.randn([ROWS] + shape)
        with torch.no_grad():
            out = serving(task, module(x))
        out = out.reshape(ROWS, -1)
        write_f32(os.path.join(outdir, name + ".in.f32"), x)
        write_f32(os.path.join(outdir, name + ".out.f32"), out)
        with open(os.path.join(outdir, name + ".txt"), "w") as f:
            f.write(f"{task} {','.join(map(str, shape))} {ROWS} "
                    f"{out.shape[1]}\n")
    for name, module in {"throws": Throws(), "nan": Nan(),
                         "wrong_shape": WrongShape(),
                         "double": Double()}.items():
        torch.jit.script(module).save(os.path.join(outdir, name + ".pt"))


def run(module_path, task, input_shape, in_path, out_path):
    module = torch.jit.load(module_path)
    module.eval()
    shape = [int(d) for d in input_shape.split(",")]
    x = read_f32(in_path).reshape([-1] + shape)
    with torch.no_grad():
        out = serving(task, module(x))
    write_f32(out_path, out.reshape(x.shape[0], -1))


def compare(module_path, task, input_shape, csv_path, json_path):
    module = torch.jit.load(module_path)
    module.eval()
    with open(csv_path) as f:
        lines = [line.strip() for line in f if line.strip()][1:]
    rows = [[float(v) for v in line.split(",")] for line in lines]
    shape = [int(d) for d in input_shape.split(",")]
    x = torch.tensor(rows, dtype=torch.float32).reshape([-1] + shape)
    with torch.no_grad():
        ours = serving(task, module(x)).reshape(len(rows), -1).view(-1)
    with open(json_path) as f:
        served = json.load(f)["outputs"]["data"]
    if len(served) != ours.numel():
        print(f"the pod served {len(served)} values; PyTorch gives "
              f"{ours.numel()}")
        return 1
    diff = max(abs(a - b) for a, b in zip(served, ours.tolist()))
    print(f"largest difference between the pod and PyTorch over "
          f"{len(served)} outputs: {diff:.3g}")
    return 0 if diff <= 1e-5 else 1


def main(argv):
    if len(argv) == 3 and argv[1] == "make":
        make(argv[2])
    elif len(argv) == 7 and argv[1] == "run":
        run(*argv[2:])
    elif len(argv) == 7 and argv[1] == "compare":
        return compare(*argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
