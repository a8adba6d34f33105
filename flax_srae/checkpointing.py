"""Orbax checkpoints in WORKDIR/checkpoints: the train state plus the config that made it."""
import os
import signal
from typing import Any, Optional

import orbax.checkpoint as ocp

from flax_srae import models
from flax_srae.errors import UserError


_ABBREVIATIONS = {'features': 'f', 'width': 'w', 'num_blocks': 'b'}


def architecture_subfolder(workdir: str, config) -> str:
  """WORKDIR/<model>_c<channels>_<sizes>, e.g. seed_c1_f32-64-128 or edsr_c1_w32_b4: one
  stable place per architecture, so a second run with --new_subfolder resumes there."""
  sizes = []
  for field in models.architecture_fields(config.model)[2:]:
    value = config[field]
    value = '-'.join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    sizes.append(_ABBREVIATIONS[field] + value)
  return os.path.join(workdir, '_'.join([config.model, f'c{config.channels}'] + sizes))


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), 'checkpoints')


def manager(workdir: str, keep: int = 3) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      checkpoint_dir(workdir),
      options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
      item_names=('state', 'config'))


# Test hook: the process SIGKILLs itself while the save of this step is being written.
KILL_DURING_SAVE_ENV = 'FLAX_SRAE_TEST_KILL_DURING_SAVE'


def save(mngr: ocp.CheckpointManager, step: int, state, config) -> None:
  """Starts an asynchronous save; Orbax writes it to a temporary folder and renames it into
  place only once complete, so a crash mid-save leaves the previous checkpoint the latest."""
  try:
    mngr.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), config=ocp.args.JsonSave(config.to_dict())))
  except OSError as e:  # includes the previous save's failure, raised by this call
    raise UserError(f'saving checkpoint {step} in {mngr.directory} failed ({e.strerror or e}): '
                    f'free disk space or fix permissions; earlier checkpoints are intact') from e
  if os.environ.get(KILL_DURING_SAVE_ENV) == str(step):
    os.kill(os.getpid(), signal.SIGKILL)


def wait(mngr: ocp.CheckpointManager) -> None:
  """Waits for the pending save, reporting a failed one (disk full, ...) as a UserError."""
  try:
    mngr.wait_until_finished()
  except OSError as e:
    raise UserError(f'saving a checkpoint in {mngr.directory} failed ({e.strerror or e}): free '
                    f'disk space or fix permissions; earlier checkpoints are intact') from e


def restore(mngr: ocp.CheckpointManager, step: int, **items):
  """mngr.restore of the named items, a damaged checkpoint reported as a UserError."""
  try:
    return mngr.restore(step, args=ocp.args.Composite(**items))
  except (FileNotFoundError, KeyError, ValueError, OSError) as e:
    raise UserError(f'checkpoint {step} in {mngr.directory} is incomplete or damaged '
                    f'({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ""}); '
                    f'remove that step folder to use the one before') from e


def _architecture(config_dict, model: str) -> dict:
  """The fields that fix `model`'s parameters: a checkpoint is only resumed by a config that
  agrees on all of them."""
  return {k: list(v) if isinstance(v, (list, tuple)) else v
          for k, v in config_dict.items() if k in models.architecture_fields(model)}


def restore_latest(mngr: ocp.CheckpointManager, abstract_state, config) -> Optional[Any]:
  """The latest saved state (shaped like `abstract_state`), or None when there is none.

  Refuses a checkpoint written by a config with another architecture instead of failing on
  mismatched shapes deep inside Orbax.
  """
  step = mngr.latest_step()
  if step is None:
    return None
  saved = restore(mngr, step, config=ocp.args.JsonRestore())['config']
  want = _architecture(config.to_dict(), config.model)
  have = _architecture(saved, saved.get('model', ''))
  if want != have:
    # Another model differs in everything: name just that.
    fields = ['model'] if want['model'] != have.get('model') else want
    diff = ', '.join(f'{k}: checkpoint {have.get(k)!r} vs config {want.get(k)!r}'
                     for k in fields if want.get(k) != have.get(k))
    raise UserError(f'{mngr.directory} holds a checkpoint of another model ({diff}): use '
                    f'the matching config, another --workdir, or --new_subfolder to train in '
                    f'a subfolder of this workdir (nothing here is deleted)')
  want, have = _optimizer(config.to_dict()), _optimizer(saved)
  if want != have:
    diff = ', '.join(f'{k}: checkpoint {have[k]} vs config {want[k]}' for k in want
                     if want[k] != have[k])
    raise UserError(f'{mngr.directory} holds a checkpoint whose optimizer state has another form '
                    f'({diff}): resume with the settings it was trained with, or use another '
                    f'--workdir')
  return restore(mngr, step, state=ocp.args.StandardRestore(abstract_state))['state']


def _optimizer(config_dict) -> dict:
  """The settings that change the form of the saved optimizer state (configs saved before
  they existed had none of them)."""
  return {'lr_schedule': config_dict.get('lr_schedule', 'constant'),
          'grad_clip': 'on' if config_dict.get('grad_clip', 0) else 'off',
          'ema': 'on' if config_dict.get('ema', 0) else 'off'}
