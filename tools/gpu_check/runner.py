"""Runs the sections one after the other within a time budget and writes what each gave.

Each section is independent: an exception is recorded with its message and the next one runs;
a section whose expected cost exceeds what is left of the budget is skipped with that reason;
the JSON and the Markdown table are rewritten before and after every section, so a run that is
killed (the device's per-command limit) keeps everything that ran and names the one it was in.
"""
import json
import os
import signal
import threading
import time
import traceback

import torch

__all__ = ["Skipped", "Failed", "Context", "run_sections", "markdown"]


class Skipped(Exception):
    """Raised by a section that cannot run here (the message says why)."""


class Failed(Exception):
    """Raised by a section whose check ran and did not hold; ``data`` is kept in the record."""

    def __init__(self, message, data):
        super().__init__(message)
        self.data = data


class Context:
    """What a section sees: the device, the sizes, a scratch folder and the budget."""

    def __init__(self, device, profile, tmp, budget_s):
        self.device = device
        self.cuda = torch.device(device).type == "cuda" and torch.cuda.is_available()
        self.profile = profile
        self.tmp = tmp
        self.budget_s = budget_s
        self.start = time.monotonic()
        self.reserved_s = 0.0  # expected cost of the sections still to come

    def remaining(self):
        return self.budget_s - (time.monotonic() - self.start)

    def affords(self, key):
        """Whether an optional part (``profile.cost_s[key]``) fits beside the later sections."""
        return self.remaining() - self.reserved_s >= self.profile.cost_s[key]

    def require_cuda(self):
        if not self.cuda:
            raise Skipped(f"needs CUDA (device {self.device!r}, "
                          f"CUDA available: {torch.cuda.is_available()})")


class _Deadline(BaseException):
    """Not an ``Exception``: a section's own ``except Exception`` must not swallow it."""


def _alarm(seconds):
    """SIGALRM after ``seconds`` in the main thread (a section past the whole budget stops
    there); returns a function that cancels it. Elsewhere nothing is armed."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        return lambda: None

    def fire(signum, frame):
        raise _Deadline(f"still running when the budget ran out ({seconds:.0f} s left at start)")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)

    def cancel():
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)

    return cancel


def _summary(data):
    return data.pop("summary", "") if isinstance(data, dict) else ""


def run_sections(sections, ctx, out_dir, meta):
    """``sections``: [(name, fn(ctx) -> dict)]; returns the records (also written to
    ``out_dir/gpu_check.json`` and ``gpu_check.md`` after every step)."""
    records = []
    for i, (name, fn) in enumerate(sections):
        cost = ctx.profile.cost_s[name]
        ctx.reserved_s = sum(ctx.profile.cost_s[n] for n, _ in sections[i + 1:])
        record = {"section": name, "status": "running", "seconds": 0.0}
        records.append(record)
        left = ctx.remaining()
        if cost > left:
            record.update(status="skipped",
                          reason=f"expected ~{cost} s, {max(left, 0):.0f} s of the budget left")
            _write(out_dir, meta, records)
            continue
        _write(out_dir, meta, records)
        print(f"[gpu_check] {name} ...", flush=True)
        t0 = time.monotonic()
        cancel = _alarm(left)
        try:
            data = fn(ctx)
            record.update(status="ok", data=data, summary=_summary(data))
        except Skipped as e:
            record.update(status="skipped", reason=str(e))
        except Failed as e:
            record.update(status="failed", error=str(e), data=e.data, summary=_summary(e.data))
        except (Exception, _Deadline) as e:  # ends this section only
            record.update(status="failed", error=f"{type(e).__name__}: {e}",
                          traceback=traceback.format_exc(limit=8))
        finally:
            cancel()
        record["seconds"] = round(time.monotonic() - t0, 2)
        _write(out_dir, meta, records)
        print(f"[gpu_check] {name}: {record['status']} ({record['seconds']} s)", flush=True)
    meta["total_s"] = round(time.monotonic() - ctx.start, 1)
    _write(out_dir, meta, records)
    return records


def _cell(text, limit=220):
    text = " ".join(str(text).split()).replace("|", "/")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def markdown(meta, records):
    """The table: section, status, key numbers (or the reason / error), seconds."""
    lines = [f"# GPU check ({meta.get('device', '?')})", "",
             ", ".join(f"{k}: {meta[k]}" for k in ("started", "mode", "budget_s", "total_s")
                       if k in meta), "",
             "| section | status | key numbers | seconds |", "|---|---|---|---|"]
    for r in records:
        text = {"ok": r.get("summary", ""), "skipped": r.get("reason", ""),
                "running": "(was running when the file was written)"}.get(
            r["status"], r.get("error", "") + (f"; {r['summary']}" if r.get("summary") else ""))
        lines.append(f"| {r['section']} | {r['status']} | {_cell(text)} | {r['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def _write(out_dir, meta, records):
    """Both files, each replaced atomically (a kill mid-write leaves the previous one)."""
    for name, text in (("gpu_check.json", json.dumps({"meta": meta, "sections": records},
                                                      indent=1, default=str)),
                       ("gpu_check.md", markdown(meta, records))):
        path = os.path.join(out_dir, name)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
