"""Device facts the benchmark needs: synchronisation, peak memory, and the bf16 peak for MFU.

Peak memory: CUDA ``max_memory_allocated`` (tensors only, from a reset just before the first
step) on GPU, beside ``max_memory_reserved`` (what the caching allocator took from the
card: the figure that decides whether a step fits, with its fragmentation and rounding); on
CPU the process's peak resident set (``ru_maxrss``), which is monotone over the process's life,
so each case runs in a fresh subprocess and the RSS just before the first step is reported
beside it (no reserved figure: None).
"""
import resource
import time

import torch

#: dense (no sparsity) bf16 tensor-core peaks, FLOP/s, from the vendors' data sheets
BF16_PEAK_FLOPS = (
    ("H200", 989.4e12),
    ("H100 PCIe", 756.0e12),
    ("H100 NVL", 835.0e12),
    ("H100", 989.4e12),      # SXM
    ("GH200", 989.4e12),
    ("A100", 312.0e12),
    ("L40S", 362.1e12),
    ("A10G", 70.0e12),       # 4x the fp32 peak, without sparsity
)


def device_name(device):
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({torch.get_num_threads()} threads)"


def bf16_peak_flops(name):
    """The card's dense bf16 peak in FLOP/s, or None when unknown (then no MFU is printed)."""
    for key, peak in BF16_PEAK_FLOPS:
        if key in name:
            return peak
    return None


def synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(torch.device(device))


def timed(fn, device):
    """Wall time of ``fn()`` in seconds, with the device synchronised before and after."""
    synchronize(device)
    t0 = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - t0


def reset_peak_memory(device):
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(torch.device(device))


def current_rss_mib():
    """Resident set size now (Linux ``/proc/self/statm``), MiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_reserved_mib(device):
    """CUDA max reserved MiB (same reset as ``peak_memory_mib``), or None on CPU: the process
    RSS is the only figure there, reported as the peak itself."""
    if torch.device(device).type == "cuda":
        return torch.cuda.max_memory_reserved(torch.device(device)) / 2**20
    return None


def peak_memory_mib(device):
    """(peak MiB, what it is): CUDA max allocated, or the process's peak RSS on CPU."""
    if torch.device(device).type == "cuda":
        return torch.cuda.max_memory_allocated(torch.device(device)) / 2**20, "cuda_max_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "peak_rss"
