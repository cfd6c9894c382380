"""--device: auto picks a GPU where PyTorch sees one, a missing one is one sentence, checkpoints load on any device."""

from __future__ import annotations

import pytest
import torch

from vae.checkpoint import load_model, read_card
from vae.cli import train as train_cli
from vae.data import Split
from vae.devices import DeviceError, resolve_device
from vae.models import ModelConfig
from vae.train import TrainConfig, train

GPU = torch.cuda.is_available()


def _tiny_data() -> tuple[Split, Split]:
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(96, 28, 28, generator=g) > 0.7).to(torch.uint8) * 255
    labels = torch.zeros(96, dtype=torch.int64)
    return Split(images[:64], labels[:64]), Split(images[64:], labels[64:])


def test_auto_is_a_gpu_where_pytorch_sees_one_else_the_cpu():
    expected = "cuda" if GPU else "mps" if torch.backends.mps.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_is_the_cpu_where_there_is_no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize(("device", "gpu"), [("cuda", "CUDA GPU"), ("mps", "Apple GPU (MPS)")])
def test_asking_for_a_missing_gpu_is_one_sentence(device, gpu, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(DeviceError) as err:
        resolve_device(device)
    assert str(err.value) == (
        f"--device {device} was asked for, but PyTorch sees no {gpu} here; use --device cpu or auto."
    )
    with pytest.raises(SystemExit) as exit_:
        train_cli.main(["--device", device, "--quiet"])
    assert exit_.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert f"--device {device} was asked for, but PyTorch sees no {gpu} here" in line


def test_a_checkpoint_loads_on_the_cpu(checkpoints_dir):
    model, card = load_model(checkpoints_dir / "mnist-vae-z2", device="cpu")
    assert {p.device.type for p in model.parameters()} == {"cpu"} and not model.training
    assert card["dataset"] == "mnist"


@pytest.mark.skipif(not GPU, reason="needs a CUDA GPU")
def test_on_a_gpu_a_run_trains_there_continues_on_the_cpu_and_loads_on_either(tmp_path):
    data = _tiny_data()
    config = TrainConfig(model=ModelConfig(hidden=(32,)), epochs=2, batch_size=16)

    def stop(epoch: int, loss: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "run", data=data, iwae_k=0, progress=False, on_epoch=stop, device="cuda")
    assert read_card(tmp_path / "run")["training"]["device"] == "cuda"
    card = train(config, tmp_path / "run", resume=True, data=data, iwae_k=0, progress=False, device="cpu")
    assert card["training"]["epochs_done"] == 2 and card["training"]["device"] == "cpu"
    on_gpu, _ = load_model(tmp_path / "run", device="cuda")
    on_cpu, _ = load_model(tmp_path / "run", device="cpu")
    assert next(on_gpu.parameters()).is_cuda and not next(on_cpu.parameters()).is_cuda
    x = data[1].as_float()
    with torch.no_grad():
        torch.testing.assert_close(on_gpu.encode(x.cuda())[0].cpu(), on_cpu.encode(x)[0], atol=1e-4, rtol=1e-4)
