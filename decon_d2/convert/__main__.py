"""CLI: ``python -m decon_d2.convert INPUT OUTPUT.pkl`` (console script ``decon-convert``).

Order of work, so that a failure never leaves a file behind: read and convert in memory (errors
stop here), write the pickle to a temporary file beside OUTPUT, check the fine-tune config's
input conventions, verify by loading and comparing features, then ``os.replace`` the pickle and
its report JSON into place. Exit status: 0 written; 1 conversion or verification failed
(nothing written); 2 bad command line (nothing written).
"""
import argparse
import logging
import os
import sys

from .core import convert_to_d2
from ..config import build_cfg, find_pretrain_config
from ..utils.atomic import atomic_write
from .errors import ConversionError
from ..conventions import check_conventions, depth_error
from .targets import TARGETS, finetune_cfg_for, target_shapes
from ..weights import WeightsReadError, fpn_channels, read_torch, resnet_depth, write_pkl_tmp
from .verify import verify

__all__ = ["main", "build_parser", "report_path"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m decon_d2.convert",
        description="Convert a DeCon/SlotCon pre-training checkpoint (or a torchvision ResNet-50) "
                    "into a Detectron2 .pkl for the model of a fine-tune config (Mask R-CNN "
                    "R50-FPN by default; Semantic FPN, FCN segmentation), with a report.",
    )
    p.add_argument("input", help="our checkpoint (.pth), the authors'/SlotCon one, or a "
                                 "torchvision ResNet-50 state dict")
    p.add_argument("output", help="output .pkl; the report goes beside it as <name>.report.json")
    p.add_argument("--branch", choices=("teacher", "student"), default=None,
                   help="network to export (default: the checkpoint's record's export_branch: "
                        "the teacher for SlotCon/DeCon, the student for DenseCL; else teacher)")
    p.add_argument("--decoder", choices=("auto", "none"), default="auto",
                   help="auto (default): export the pre-trained decoder (FPN or FCN head) when the "
                        "target model has that decoder, else the encoder alone; none: the "
                        "encoder alone (encoder-only transfer)")
    p.add_argument("--encoder-only", action="store_true", help="same as --decoder none")
    p.add_argument("--config", metavar="FINETUNE_YAML",
                   help="fine-tune config to check against and to verify with (default: the "
                        "built-in config of --target)")
    p.add_argument("--target", choices=sorted(TARGETS), default="fpn",
                   help="built-in target model when no --config is given: fpn (default: "
                        "model-zoo Base-RCNN-FPN + Mask R-CNN R50-FPN SSL overlay) or c4 (Faster "
                        "R-CNN R50-C4 of the VOC protocol: res5 in the ROI head, encoder only)")
    p.add_argument("--pretrain-config", metavar="YAML",
                   help="pre-training config of our checkpoint, to build the whole DeCon model "
                        "as the verification reference (default: config.yaml beside INPUT)")
    p.add_argument("--verify", action=argparse.BooleanOptionalAction, default=None,
                   help="load the output into Mask R-CNN and compare features with the "
                        "pre-training network (default: on for our checkpoints)")
    p.add_argument("--allow-partial", action="store_true",
                   help="write the output even if keys are missing/unknown; the report and "
                        "metadata mark it partial")
    p.add_argument("--unsafe-load", action="store_true",
                   help="torch.load with weights_only=False (trusted files only)")
    return p


def report_path(output: str) -> str:
    return output[: -len(".pkl")] + ".report.json"


def _usage_error(msg: str) -> int:
    print(f"decon-convert: error: {msg}; nothing written", file=sys.stderr)
    return 2


def _load_finetune_cfg(path):
    from ..data import register_declared_datasets

    cfg = build_cfg(path)
    register_declared_datasets(cfg)  # as setup() does: the config's data sets exist by name
    return cfg


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    inp, out = args.input, args.output
    if not out.endswith(".pkl"):
        return _usage_error(f"OUTPUT {out!r} must end with .pkl (Detectron2 reads other suffixes "
                            "with torch.load and would not take the file as written)")
    if not os.path.isfile(inp):
        return _usage_error(f"INPUT {inp!r} is not a file")
    if os.path.abspath(inp) == os.path.abspath(out) or (
            os.path.exists(out) and os.path.samefile(inp, out)):
        return _usage_error("OUTPUT is the INPUT file; refusing to overwrite the checkpoint")
    if not os.path.isdir(os.path.dirname(os.path.abspath(out))):
        return _usage_error(f"folder of OUTPUT {out!r} does not exist")
    if args.config and not os.path.isfile(args.config):
        return _usage_error(f"--config {args.config!r} is not a file")
    if args.pretrain_config and not os.path.isfile(args.pretrain_config):
        return _usage_error(f"--pretrain-config {args.pretrain_config!r} is not a file")
    try:
        return _run(args)
    except ConversionError as e:
        if e.report is not None:
            print(e.report.format_table())
        errors = e.report.errors if e.report is not None and e.report.errors else [str(e)]
        print("decon-convert: FAILED:\n" + "\n".join(f"  - {m}" for m in errors)
              + "\nnothing written", file=sys.stderr)
        return 1


def _run(args) -> int:
    inp, out = args.input, args.output
    try:
        source = read_torch(inp, unsafe_load=args.unsafe_load)
    except WeightsReadError as e:
        raise ConversionError(str(e)) from e
    layout, record = source.layout, source.pretrain_record
    # ResNet-50 when the names tell no depth (a partial file): the conversion's checks name
    # what is missing or foreign
    depth = resnet_depth(source.state_dict, default=50)
    if args.config:
        cfg = _load_finetune_cfg(args.config)
        if cfg.MODEL.RESNETS.DEPTH != depth:  # before any shape noise
            raise ConversionError(f"--config {args.config}: {depth_error(cfg, depth)}")
    else:  # the built-in target at the checkpoint's depth
        cfg = finetune_cfg_for(args.target, record.conventions, depth,
                               fpn_channels(source.state_dict))
    d2_state, report = convert_to_d2(
        source.state_dict,
        branch=args.branch,
        include_decoder=False if args.encoder_only or args.decoder == "none" else None,
        allow_partial=args.allow_partial,
        target=target_shapes(cfg),
        meta=record,
        epoch=source.epoch,
    )
    report.record.source_file = os.path.basename(inp)
    report.record.source_sha256 = source.sha256

    errors, warnings = check_conventions(cfg, report.record, report.decoder == "fpn", depth)
    report.warnings.extend(warnings)
    if errors:
        report.errors.extend(errors)
        raise ConversionError("the fine-tune config does not match the checkpoint's input "
                              "conventions", report)
    do_verify = args.verify if args.verify is not None else layout == "ours"
    tmp = write_pkl_tmp(out, d2_state, report.record)
    try:
        if do_verify:
            pretrain_cfg = None
            if layout == "ours":
                pretrain_cfg = find_pretrain_config(inp, args.pretrain_config)
            report.verification = verify(tmp, cfg, report, source.state_dict, pretrain_cfg)
            if not report.verification["passed"]:
                report.errors.extend(report.verification["errors"])
                raise ConversionError("verification failed", report)
        with atomic_write(report_path(out), "w") as f:
            f.write(report.to_json())
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(report.format_table())
    print(f"wrote {out} ({len(d2_state)} tensors) and {report_path(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
