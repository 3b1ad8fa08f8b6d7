"""The paper's networks: shapes, penultimate features, WRN-50-2, and the oneDNN workaround."""

import subprocess
import sys

import torch
import torch.nn as nn

from tarf import models


def test_resnet18_cifar_variant_shapes_and_features():
    m = models.build("resnet18", 5, width=4, in_channels=1, dataset="fmnist").eval()
    assert isinstance(m.conv1, nn.Conv2d) and m.conv1.kernel_size == (3, 3) and m.conv1.stride == (1, 1)
    assert not any(isinstance(x, nn.MaxPool2d) for x in m.modules())  # no max-pool in the CIFAR stem
    x = torch.rand(3, 1, 28, 28)
    assert m(x).shape == (3, 5)
    assert m.features(x).shape == (3, 4 * 8)  # width · 8 channels, pooled
    assert [len(layer) for layer in (m.layer1, m.layer2, m.layer3, m.layer4)] == [2, 2, 2, 2]


def test_wrn50_2_builds_with_doubled_inner_width():
    m = models.build("wrn50_2", 10, width=4, in_channels=3).eval()
    assert [len(layer) for layer in (m.layer1, m.layer2, m.layer3, m.layer4)] == [3, 4, 6, 3]
    assert m.layer1[0].conv2.out_channels == 2 * 4  # bottleneck inner width ×2
    assert m(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_strided_pointwise_is_the_same_function_as_a_strided_1x1_conv():
    torch.manual_seed(0)
    ref = nn.Conv2d(8, 16, 1, 2, bias=False)
    sp = models.StridedPointwise(8, 16, 1, 2, bias=False)
    sp.weight.data.copy_(ref.weight.data)
    x = torch.rand(5, 8, 14, 14, requires_grad=True)
    assert torch.allclose(ref(x), sp(x), atol=1e-6)
    assert list(sp.state_dict()) == ["weight"]  # checkpoints keep torchvision's key names


def test_odd_batches_with_two_threads_do_not_crash():
    """torch 2.14.1's oneDNN backward of a channels_last 1×1 stride-2 conv corrupts the heap with
    2 threads on odd batches; the model must not use that kernel (run apart: a crash kills it)."""
    code = ("import torch; from tarf import models; torch.set_num_threads(2); "
            "m = models.build('resnet18', 10, 8, 1, 'fmnist')\n"
            "for bs in (25, 17, 3, 1, 33):\n"
            "    m(torch.rand(bs, 1, 28, 28).contiguous(memory_format=torch.channels_last)).sum().backward()\n"
            "print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-500:]


def test_fit_trains_through_a_compiled_module():
    # torch.compile's OptimizedModule raises on truth testing; fit once did `compiled or model`
    # (scripts/gpu_bench.py --compile failed on it). The eager backend needs no C compiler.
    from tarf.params import Train
    from tarf.train import fit

    torch.manual_seed(0)
    model = models.build("resnet18", 10, 4, 1, "fmnist")
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8)
    y = torch.randint(0, 10, (16,))
    log = fit(model, x, y, Train(epochs=1, batch_size=8, lr=0.1, schedule="constant", augment=False), 0,
              compiled=torch.compile(model, backend="eager"))
    assert len(log) == 1
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
