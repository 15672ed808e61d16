"""Plain-text tables of the results: one timing table with ratios to encoder-only (same run),
and one FLOP breakdown per case (GFLOP per image, both views)."""


def _f(x, fmt="{:.3g}"):
    return "-" if x is None else fmt.format(x)


def _table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def baseline(results):
    """The first encoder-only result without error: the reference of every ratio."""
    for r in results:
        if r["variant"] == "encoder_only" and "error" not in r:
            return r
    return None


def timing_table(results):
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
            _f(t.get("peak_memory_mib"), "{:.0f}"),
            _f(ratio(t.get("peak_memory_mib"), bt.get("peak_memory_mib")), "{:.2f}x"),
            _f(fl.get("step") and fl["step"] / 1e9, "{:.1f}"),
            _f(ratio(fl.get("step"), bf.get("step")), "{:.1f}x"),
            _f(mfu, "{:.1%}"),
            r.get("error", ""),
        ])
    kind = next((r["timing"]["memory_kind"] for r in results if "timing" in r), "memory")
    header = ["case", "batch", "step s (median)", "img/s", "time vs enc", f"{kind} MiB",
              "mem vs enc", "GFLOP/img/step", "FLOPs vs enc", "MFU", ""]
    return _table(header, rows)


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
