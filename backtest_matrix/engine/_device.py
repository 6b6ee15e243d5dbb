"""Which device the batch engine sweeps on: ``auto``, ``cpu`` or ``cuda``.

``auto`` takes a CUDA GPU when the ``numba-cuda`` package, an NVIDIA driver and a visible device are all
there, and the CPU otherwise; ``cuda`` demands all three and says which is missing. Under numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``, for tests without a GPU) the simulated device counts as present.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import sys
from typing import Literal

from tradeloop._settings import DEVICES, device_setting
from tradeloop.errors import DeviceError, SettingsError

__all__ = ["Device", "cuda_problem", "resolve_device"]

Device = Literal["cpu", "cuda"]

_FALLBACK = (
    "or run on the CPU with --device cpu (TRADELOOP_DEVICE=cpu), or with --device auto (a GPU if present)"
)


def resolve_device(requested: str | None = None) -> Device:
    """The device to sweep on for ``requested`` (``None``: the ``TRADELOOP_DEVICE`` setting, else ``auto``).

    Raises
    ------
    DeviceError
        ``cuda`` was asked for and the package, the driver or a device is missing (the message names
        which, and the fix).
    SettingsError
        ``requested`` is not one of ``auto``, ``cpu``, ``cuda``.
    """
    device = device_setting() if requested is None else requested.strip().lower()
    if device not in DEVICES:
        raise SettingsError(
            f"--device: {requested!r} is not a device; use one of {', '.join(DEVICES)} "
            "(auto takes a CUDA GPU when one is present)"
        )
    if device == "cpu":
        return "cpu"
    problem = cuda_problem()
    if problem is None:
        return "cuda"
    if device == "auto":
        return "cpu"
    raise DeviceError(f"--device cuda: {problem}; {_FALLBACK}")


@functools.cache
def cuda_problem() -> str | None:
    """What keeps the engine off a CUDA GPU here, with its fix; ``None`` when a GPU (or the simulator) is
    ready. Probed once per process (the driver does not come and go)."""
    if importlib.util.find_spec("numba_cuda") is None:
        return (
            "the package numba-cuda is not installed (the GPU backend needs it); "
            "install it with pip install 'tradeloop[cuda]'"
        )
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return None
    if sys.platform.startswith("linux"):
        try:  # before importing numba.cuda (half a second), which a CPU-only machine need not pay
            ctypes.CDLL("libcuda.so.1")
        except OSError as exc:
            return (
                f"no NVIDIA driver: libcuda.so.1 cannot be loaded ({exc}); install the NVIDIA driver for "
                "the GPU, or run where one is installed"
            )
    from numba import cuda
    from numba.cuda.cudadrv.error import CudaSupportError

    try:
        from numba.cuda.cudadrv.driver import driver

        driver.ensure_initialized()  # type: ignore[no-untyped-call]
        if driver.initialization_error is not None:
            raise CudaSupportError(driver.initialization_error)
    except (CudaSupportError, OSError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return (
            f"no usable NVIDIA driver (libcuda) was found ({reason}); install the NVIDIA driver for the "
            "GPU, or run where one is installed"
        )
    try:
        count = len(cuda.gpus)
    except CudaSupportError as exc:
        count, detail = 0, f" ({' '.join(str(exc).split())})"
    else:
        detail = ""
    if count == 0:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        shown = f"; CUDA_VISIBLE_DEVICES={visible!r} hides them" if visible is not None else ""
        return (
            f"the NVIDIA driver is installed but sees no CUDA device{detail}{shown}; check nvidia-smi "
            "and CUDA_VISIBLE_DEVICES"
        )
    from numba.cuda.cudadrv import nvvm

    if not nvvm.is_available():  # type: ignore[no-untyped-call]
        return (
            "numba-cuda finds no NVVM (the CUDA toolkit's compiler) to build the kernels; install "
            "pip install 'tradeloop[cuda13]' (the toolkit as wheels) or a CUDA toolkit"
        )
    return None
