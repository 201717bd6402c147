"""A user's own PyTorch model, as tools/export_model.py --module takes it: a small residual CNN for
28 x 28 grey images (Fashion-MNIST), and the few lines that train it.

  .venv/bin/python examples/byom/small_net.py train small_net.pth        # 2 epochs, about a minute
  .venv/bin/python tools/export_model.py --module examples/byom/small_net.py:build \\
      --checkpoint small_net.pth --input-size 1,28,28 --split stage1 --out models/small_net

The engine's Fashion-MNIST loader normalises with mean 0.2860 and std 0.3530 and gives 1 x 28 x 28
images; the training below does the same, so the package sees what it was trained on.
"""
import gzip
import sys

import numpy as np
import torch
from torch import nn

MEAN, STD = 0.2860, 0.3530


class Block(nn.Module):
    """conv-bn-relu-conv-bn with a strided 1x1 shortcut, then relu."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + self.shortcut(x))


class SmallNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.stage1 = Block(16, 32, 2)   # 14 x 14
        self.stage2 = Block(32, 64, 2)   # 7 x 7
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.fc(self.stage2(self.stage1(self.stem(x))).mean((2, 3)))


def build(num_classes=10):
    return SmallNet(num_classes)


def fashion_mnist(root, split):
    """Images (N x 1 x 28 x 28, normalised as the engine does) and labels from the IDX files."""
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(f"{root}/{prefix}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{root}/{prefix}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    x = (torch.from_numpy(images.astype(np.float32)) / 255 - MEAN) / STD
    return x, torch.from_numpy(labels.astype(np.int64))


def train(out, root="/usr/share/datasets/fashion-mnist", epochs=2, samples=20000, seed=0):
    torch.manual_seed(seed)
    x, y = fashion_mnist(root, "train")
    x, y = x[:samples], y[:samples]
    model = build()
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(epochs):
        order = torch.randperm(len(y))
        for i in range(0, len(y), 128):
            idx = order[i:i + 128]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    torch.save(model.state_dict(), out)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "train":
        raise SystemExit("usage: small_net.py train OUT.pth")
    train(sys.argv[2])
