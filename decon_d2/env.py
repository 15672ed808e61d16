"""Environment report for bug reports: ``python -m decon_d2.env`` (console script ``decon-env``)."""
import importlib
import importlib.metadata
import platform
import sys
from typing import List, Tuple


def _version(module: str) -> str:
    try:
        mod = importlib.import_module(module)
    except Exception as e:  # a broken install is exactly what this report must show
        return f"not importable ({type(e).__name__}: {e})"
    version = getattr(mod, "__version__", None)
    if version is None:
        try:
            version = importlib.metadata.version(module)
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
    return f"{version} @ {getattr(mod, '__file__', '?')}"


def _detectron2_extension() -> str:
    try:
        from detectron2 import _C  # noqa: F401
    except Exception as e:
        return f"no ({type(e).__name__}); Mask R-CNN R50-FPN and COCOEvaluator do not need it"
    return "yes"


def collect() -> List[Tuple[str, str]]:
    rows = [
        ("python", sys.version.split()[0] + f" ({platform.platform()})"),
        ("decon_d2", _version("decon_d2")),
        ("torch", _version("torch")),
        ("torchvision", _version("torchvision")),
        ("detectron2", _version("detectron2")),
        ("detectron2 compiled extension (_C)", _detectron2_extension()),
        ("pycocotools", _version("pycocotools")),
        ("numpy", _version("numpy")),
    ]
    try:
        import torch

        cuda = torch.cuda.is_available()
        rows.append(("CUDA available", f"{cuda} (torch built with CUDA {torch.version.cuda})"))
        rows.append(("GPU count", str(torch.cuda.device_count() if cuda else 0)))
        if cuda:
            names = {torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())}
            rows.append(("GPU names", ", ".join(sorted(names))))
    except Exception as e:
        rows.append(("CUDA available", f"unknown ({e})"))
    return rows


def format_report(rows: List[Tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def main() -> int:
    print(format_report(collect()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
