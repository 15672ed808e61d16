"""Checkpoint pieces: the ``decon_meta`` record and a checkpointer for runs that get killed.

fvcore's ``Checkpointer.save`` writes ``model_XXXXXXX.pth`` in place and then rewrites
``last_checkpoint``; ``last_checkpoint`` is only updated after the file is complete, but a run
killed mid-write leaves a truncated ``.pth`` (and ``model_final.pth`` is overwritten in place).
``DeConCheckpointer`` writes both files through ``utils.atomic.atomic_write`` (fsync, then
rename), bounds the folder to ``max_keep`` iteration checkpoints after every save
(``checkpoint_files.prune``), and on resume falls back to the previous checkpoint when the newest
cannot be read.
"""

import logging
import os
import pickle
import zipfile

import torch
from detectron2.checkpoint import DetectionCheckpointer

from decon_d2.utils.atomic import atomic_write
from decon_d2.weights import PretrainRecord, run_record

from .checkpoint_files import prune, resume_candidates

logger = logging.getLogger(__name__)

#: what reading a truncated or corrupt checkpoint raises
UNREADABLE = (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError)


class UnreadableCheckpoint(Exception):
    """The file of a resume could not be read (raised by reading only, never by loading state)."""


class DeConMeta:
    """``decon_meta`` (docs/contracts.md): how the weights were made, for the converter's checks.

    A checkpointable: ``state_dict()`` is the current run's record (``decon_d2.weights
    .PretrainRecord``) as the file stores it; ``load_state_dict`` keeps what a checkpoint
    recorded in ``self.loaded``, as a record (a resumed run then records its own values again).

    Args:
        cfg: the run's config (conventions, AMP mode).
        model: the (unwrapped) pre-training model: its ``variant`` and ``decoder_levels``.
        iteration_fn: returns the current iteration.
    """

    def __init__(self, cfg, model, iteration_fn=lambda: 0):
        self.cfg = cfg
        self.variant = model.variant
        self.decoder_levels = list(model.decoder_levels)
        self.export_branch = getattr(model, "export_branch", "teacher")
        self.iteration_fn = iteration_fn
        self.loaded = None

    def record(self) -> PretrainRecord:
        """The record of the run at the current iteration (``decon_d2/weights/run_record.py``)."""
        return run_record(self.cfg, self.variant, self.decoder_levels, self.export_branch,
                          self.iteration_fn())

    def state_dict(self):
        return self.record().to_dict()

    def load_state_dict(self, state):
        self.loaded = PretrainRecord.from_dict(state)


class DeConCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` whose ``save`` and ``last_checkpoint`` tag are atomic renames,
    and which can leave tensors out of a load (``skip_prefixes``, set by the fine-tuning trainer
    for ``MODEL.TRANSFER.DECODER "random"``): those keep their fresh initialisation."""

    #: state-dict key prefixes not loaded from a file (logged)
    skip_prefixes = ()
    #: iteration checkpoints kept in save_dir after each save (0: all; checkpoint_files.prune)
    max_keep = 0
    #: the file the last resume loaded (it may be older than what last_checkpoint names)
    resumed_from = ""
    _reading_for_resume = False

    def _load_model(self, checkpoint):
        if self.skip_prefixes:
            state = checkpoint["model"]
            skipped = sorted(k for k in state if k.startswith(tuple(self.skip_prefixes)))
            for k in skipped:
                del state[k]
            self.logger.info(f"Not loading {len(skipped)} decoder tensor(s) of the checkpoint "
                             f"(MODEL.TRANSFER.DECODER random): {skipped[:3]}"
                             + (" ..." if len(skipped) > 3 else ""))
        return super()._load_model(checkpoint)

    def save(self, name, **kwargs):
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        self.logger.info(f"Saving checkpoint to {save_file}")
        with atomic_write(save_file, "wb") as f:
            torch.save(data, f)
        self.tag_last_checkpoint(basename)
        prune(self.save_dir, self.max_keep)

    def resume_or_load(self, path, *, resume=True):
        """fvcore's, but a newest checkpoint that cannot be read (truncated, corrupt) is skipped
        with a warning for the next newest; every rank sees the same files, so every rank makes
        the same choice (``DetectionCheckpointer.load`` runs a collective)."""
        if not (resume and self.has_checkpoint()):
            return super().resume_or_load(path, resume=resume)
        candidates = resume_candidates(self.save_dir)
        for i, candidate in enumerate(candidates):
            try:
                if not os.path.isfile(candidate):
                    raise FileNotFoundError("the file is missing")
                self._reading_for_resume = True
                try:
                    extra = self.load(candidate)
                finally:
                    self._reading_for_resume = False
                self.resumed_from = candidate
                return extra
            except (FileNotFoundError, UnreadableCheckpoint) as e:
                self._parsed_url_during_load = None  # DetectionCheckpointer.load left it set
                nxt = candidates[i + 1] if i + 1 < len(candidates) else None
                logger.warning(f"Cannot read checkpoint {candidate} ({type(e).__name__}: "
                               f"{str(e)[:200]}); "
                               + (f"resuming from the previous one, {nxt}." if nxt else
                                  "no other checkpoint is left in the folder."))
        raise RuntimeError(f"no readable checkpoint in {self.save_dir} (tried "
                           f"{', '.join(os.path.basename(c) for c in candidates)}): start a new "
                           f"run in a new OUTPUT_DIR")

    def _load_file(self, filename):
        """While resuming, a failure to read the file (not one loading its state, which must
        surface as it is) becomes ``UnreadableCheckpoint``, the one the fallback skips."""
        if not self._reading_for_resume:
            return super()._load_file(filename)
        try:
            return super()._load_file(filename)
        except UNREADABLE as e:
            raise UnreadableCheckpoint(f"{type(e).__name__}: {e}") from e

    def tag_last_checkpoint(self, last_filename_basename):
        with atomic_write(os.path.join(self.save_dir, "last_checkpoint"), "w") as f:
            f.write(last_filename_basename)
