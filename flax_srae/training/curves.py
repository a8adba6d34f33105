"""Training curves: TensorBoard event files in WORKDIR/tensorboard (written with tensorboardX,
no TensorFlow) and WORKDIR/curves.png (loss and eval PSNR against step, with the PSNR of the
model's baseline: bicubic for an upscaler, PCA for an autoencoder).

The curves' points are also kept in WORKDIR/curves.json, saved with each checkpoint, so that
curves.png covers the whole run across resumes.
"""
import os
from typing import Optional

import numpy as np

from flax_srae.platform import files
from flax_srae.training import samples


class Writer:
  """Scalars and sample grids for TensorBoard plus the points of curves.png. `enabled=False`
  (processes other than 0) makes every call a no-op."""

  def __init__(self, workdir: str, start_step: int, enabled: bool = True):
    self.enabled = enabled
    self._json = os.path.join(workdir, 'curves.json')
    self.points = {'loss': [], 'eval_psnr': [], 'baseline': None, 'baseline_psnr': None}
    if not enabled:
      return
    import tensorboardX  # pylint: disable=g-import-not-at-top
    self._tb = tensorboardX.SummaryWriter(os.path.join(workdir, 'tensorboard'))
    saved = files.read_json(self._json) if start_step else None
    if saved and 'bicubic_psnr' in saved:  # as runs saved it before other baselines
      saved.update(baseline='bicubic', baseline_psnr=saved.pop('bicubic_psnr'))
    if saved:
      # Points past the checkpoint resumed from were logged by a run that did not save them.
      self.points = dict(saved, **{k: [p for p in saved[k] if p[0] <= start_step]
                                   for k in ('loss', 'eval_psnr')})

  def scalars(self, step: int, values: dict) -> None:
    if not self.enabled:
      return
    for name, value in values.items():
      self._tb.add_scalar(name, value, step)
    for key, name in (('loss', 'train/loss'), ('eval_psnr', 'eval/psnr')):
      if name in values:
        # A finished run evaluated again logs its last step again: one point per step.
        self.points[key] = [p for p in self.points[key] if p[0] != step]
        self.points[key].append([step, float(values[name])])
    for name in ('bicubic', 'pca'):
      if f'eval/{name}_psnr' in values:
        self.points.update(baseline=name, baseline_psnr=float(values[f'eval/{name}_psnr']))

  def samples(self, step: int, columns) -> None:
    if self.enabled:
      self._tb.add_image('eval/samples', samples.grid(columns, zoom=2), step,
                         dataformats='HW' if columns[-1].shape[-1] == 1 else 'HWC')

  def save(self) -> None:
    """Keeps the points in step with the checkpoint just saved."""
    if self.enabled:
      self._tb.flush()
      files.write_json(self._json, self.points)

  def close(self, curves_path: Optional[str] = None) -> None:
    """Closes the event files; with `curves_path`, saves the points and draws curves.png
    (without it, after a failed run, the points stay those of the last checkpoint)."""
    if self.enabled:
      if curves_path:
        self.save()
        write_curves(curves_path, self.points)
      self._tb.close()


def write_curves(path: str, points: dict) -> None:
  """curves.png: training loss (log scale) and eval PSNR with the baseline's line, against
  step."""
  # A Figure of its own, not pyplot's: no display, and the process's matplotlib backend stays.
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(10, 4))
  ax_loss, ax_psnr = fig.subplots(1, 2)
  if points['loss']:
    ax_loss.semilogy(*np.array(points['loss']).T)
  ax_loss.set(xlabel='step', ylabel='training loss', title='loss')
  if points['eval_psnr']:
    ax_psnr.plot(*np.array(points['eval_psnr']).T, 'o-', label='model')
  if points['baseline_psnr'] is not None:
    ax_psnr.axhline(points['baseline_psnr'], color='gray', linestyle='--',
                    label={'pca': 'PCA'}.get(points['baseline'], points['baseline']))
  ax_psnr.set(xlabel='step', ylabel='PSNR (dB)', title='eval PSNR')
  ax_psnr.legend()
  fig.tight_layout()
  with files.atomic_path(path) as tmp:
    fig.savefig(tmp, dpi=80)
