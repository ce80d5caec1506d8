import pytest
import torch

from distillrank.errors import DistillrankError
from distillrank.models.device import resolve_device


def test_cpu_and_auto() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected
    assert resolve_device("auto").type == expected


def test_unknown_name_says_what_works() -> None:
    with pytest.raises(DistillrankError, match=r"unknown device 'gpu': use 'cpu', 'cuda'"):
        resolve_device("gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(DistillrankError, match=r"device 'cuda': .*use device='cpu'"):
        resolve_device("cuda")


def test_cross_encoder_checks_the_device_before_loading() -> None:
    from distillrank.models import CrossEncoder

    with pytest.raises(DistillrankError, match="unknown device"):
        CrossEncoder(device="gpu")
