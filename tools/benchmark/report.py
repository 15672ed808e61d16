"""Plain-text tables of the results: one timing table with ratios to encoder-only (same run) and
fractions of the run's GEMM roofline, the memory comparison, and one FLOP breakdown per case
(GFLOP per image, both views)."""


def _f(x, fmt="{:.3g}"):
    return "-" if x is None else fmt.format(x)


def _table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def baseline(results):
    """The first SlotCon (encoder-only) result without error: the reference of every ratio."""
    for r in results:
        if r["variant"] == "slotcon" and "error" not in r:
            return r
    return None


def achieved_flops_per_s(r):
    """Counted step FLOPs per image x images/s (None without a FLOP count or timing)."""
    step, ips = r.get("flops", {}).get("step"), r.get("timing", {}).get("images_per_s")
    return step * ips if step and ips else None


def _fp32_twin(r, results):
    """The result of the same case in fp32 (label without the precision suffix), if any."""
    label = r["case"].rsplit("+", 1)[0] if r["case"].endswith(("+bf16", "+fp16")) else None
    return next((x for x in results if x["case"] == label and x.get("precision") == "fp32"
                 and "timing" in x), None)


def _roof_columns(r, results, roof):
    """GFLOP/s, its fraction of the fp32 and own-precision GEMM rooflines, speed vs fp32."""
    achieved = achieved_flops_per_s(r)
    frac = lambda key: achieved / roof[key] if achieved and roof.get(key) else None
    twin = _fp32_twin(r, results)
    speed = (twin["timing"]["median_step_s"] / r["timing"]["median_step_s"]
             if twin and "timing" in r else None)
    return [_f(achieved and achieved / 1e9, "{:.1f}"), _f(frac("fp32"), "{:.1%}"),
            _f(frac(r.get("precision", "fp32")), "{:.1%}"), _f(speed, "{:.2f}x")]


def timing_table(results, roof=None):
    """One row per case; with ``roof`` ({precision: GEMM FLOP/s}) the roofline columns too."""
    base = baseline(results)
    bt = (base or {}).get("timing", {})
    bf = (base or {}).get("flops", {})
    rows = []
    for r in results:
        t, fl = r.get("timing", {}), r.get("flops", {})
        ratio = lambda v, b: v / b if v is not None and b else None
        mfu = r.get("mfu", {}).get("utilisation")
        rows.append([
            r["case"], r.get("batch", "-"),
            _f(t.get("median_step_s"), "{:.3f}"), _f(t.get("images_per_s"), "{:.2f}"),
            _f(ratio(t.get("median_step_s"), bt.get("median_step_s")), "{:.2f}x"),
            _f(t.get("peak_memory_mib"), "{:.0f}"), _f(t.get("peak_reserved_mib"), "{:.0f}"),
            _f(ratio(t.get("peak_memory_mib"), bt.get("peak_memory_mib")), "{:.2f}x"),
            _f(fl.get("step") and fl["step"] / 1e9, "{:.1f}"),
            _f(ratio(fl.get("step"), bf.get("step")), "{:.1f}x"),
            _f(mfu, "{:.1%}"),
            *(_roof_columns(r, results, roof) if roof else []),
            r.get("error", ""),
        ])
    kind = next((r["timing"]["memory_kind"] for r in results if "timing" in r), "memory")
    header = ["case", "batch", "step s (median)", "img/s", "time vs enc", f"{kind} MiB",
              "reserved MiB", "mem vs enc", "GFLOP/img/step", "FLOPs vs enc", "MFU"]
    if roof:
        header += ["GFLOP/s", "of fp32 GEMM", "of own GEMM", "speed vs fp32"]
    return _table(header + [""], rows)


def roofline_lines(roof, device):
    """The measured GEMM roofline(s), one line each."""
    m, k, n = roof["shape"]
    best = roof.get("best", roof["start"])
    lines = [f"GEMM roofline on {device} ({m} x {k} @ {k} x {n}, the projector's hidden layer at "
             f"this batch and crop; best of the start and end of the run):"]
    for name, v in best.items():
        runs = ", ".join(_f(roof[w].get(name) and roof[w][name] / 1e9, "{:.0f}")
                         for w in ("start", "end") if w in roof)
        lines.append(f"  {name}: {_f(v and v / 1e9, '{:.1f}')} GFLOP/s (start, end: {runs})")
    return "\n".join(lines)


def memory_table(results, crop, options):
    """Peak memory and step time of the memory cases, as ratios to the first (options off)."""
    base = next((r for r in results if "timing" in r), {}).get("timing", {})
    rows = []
    for r in results:
        t = r.get("timing", {})
        ratio = lambda key: t[key] / base[key] if key in t and base.get(key) else None
        rows.append([r["case"], r.get("batch", "-"), _f(t.get("peak_memory_mib"), "{:.0f}"),
                     _f(t.get("peak_reserved_mib"), "{:.0f}"),
                     _f(ratio("peak_memory_mib"), "{:.2f}x"), _f(t.get("median_step_s"), "{:.2f}"),
                     _f(ratio("median_step_s"), "{:.2f}x"), r.get("error", "")])
    kind = base.get("memory_kind", "memory")
    title = (f"Memory at crop {crop}: ratios to {results[0]['case']} (mem = {'+'.join(options)})")
    return title + "\n" + _table(["case", "batch", f"{kind} MiB", "reserved MiB", "mem vs off",
                                   "step s", "time vs off", ""], rows)


def flop_table(r):
    fl = r["flops"]
    g = 1e9
    rows = [[k, _f(v["student"] / g, "{:.2f}"), _f(v["teacher"] / g, "{:.2f}"),
             _f((v["student"] + v["teacher"]) / (fl["forward_student"] + fl["forward_teacher"]),
                "{:.1%}")]
            for k, v in fl["components"].items()]
    rows += [
        ["forward total", _f(fl["forward_student"] / g, "{:.2f}"),
         _f(fl["forward_teacher"] / g, "{:.2f}"), ""],
        ["backward (counted)", _f(fl["backward"] / g, "{:.2f}"), "", ""],
        ["step (counted)", _f(fl["step"] / g, "{:.2f}"), "", ""],
        ["step (3x student fwd + teacher fwd)", _f(fl["step_3x_estimate"] / g, "{:.2f}"), "", ""],
    ]
    title = (f"FLOPs of {r['case']} at crop {r['crop']}, GFLOP per image (both views; "
             f"2 FLOP per MAC; counted at batch {fl['counted_at_batch']})")
    return title + "\n" + _table(["component", "student fwd", "teacher fwd", "share of fwd"], rows)
