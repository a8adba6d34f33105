"""Orbax checkpoints in WORKDIR/checkpoints: the train state plus the config that made it."""
import contextlib
import errno
import os
import re
import shlex
from typing import Any, Optional

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import orbax.checkpoint as ocp

from flax_srae import models
from flax_srae.errors import UserError
from flax_srae.errors import WriteError


# Config fields added after checkpoints had been written, with the value those runs had: a
# workdir trained before them would otherwise fail to load (AttributeError: 'ema') and be
# refused on resuming as another model ('expansion: checkpoint None vs config 0'). Test:
# tests/test_inference.py::
# test_a_checkpoint_saved_before_the_added_config_fields_loads_evaluates_and_resumes.
# (protocol and dtype, added as well, are defaulted where they are read; latent_dim and
# noise_std are read only for autoencoders, and one saved without them is refused.)
_ADDED_FIELDS = {'ema': 0.0, 'expansion': 0}

_ABBREVIATIONS = {'features': 'f', 'width': 'w', 'num_blocks': 'b', 'expansion': 'x',
                  'latent_dim': 'd', 'hr_size': 's'}


def architecture_subfolder(workdir: str, config) -> str:
  """WORKDIR/<model>_c<channels>_<sizes>, e.g. encoder_decoder_c1_f32-64-128, edsr_c1_w32_b4 or
  autoencoder_c1_f32-64-32_d32_s28: one stable place per architecture, so a second run with
  --new_subfolder resumes there."""
  sizes = []
  for field in models.architecture_fields(config.model)[2:]:
    value = config.get(field, _ADDED_FIELDS.get(field))
    if field == 'expansion' and not value:  # plain networks keep their earlier names
      continue
    value = '-'.join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    sizes.append(_ABBREVIATIONS[field] + value)
  return os.path.join(workdir, '_'.join([config.model, f'c{config.channels}'] + sizes))


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), 'checkpoints')


def manager(workdir: str, keep: int = 3) -> ocp.CheckpointManager:
  """The training run's manager: writes WORKDIR/checkpoints, keeps the last `keep` steps."""
  return ocp.CheckpointManager(
      checkpoint_dir(workdir),
      options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
      item_names=('state', 'config'))


def read_only_manager(path: str) -> ocp.CheckpointManager:
  """A manager for reading the checkpoints of a workdir (or of its checkpoints folder) that
  holds at least one complete checkpoint: nothing there is created, cleaned up or deleted."""
  if not os.path.isdir(path):
    what = 'is a file, not a folder' if os.path.exists(path) else 'does not exist'
    raise UserError(f'{path} {what}: pass the --workdir of a training run or a pretrained '
                    f'model (pretrained:photo, ...)')
  sub = os.path.join(path, 'checkpoints')
  directory = os.path.abspath(sub if os.path.isdir(sub) else path)
  # Orbax's read_only option would warn at every load; a manager that is never asked to save,
  # keeps no maximum and cleans no temporary folders creates and deletes nothing either.
  options = ocp.CheckpointManagerOptions(create=False, cleanup_tmp_directories=False)
  mngr = ocp.CheckpointManager(directory, options=options, item_names=('state', 'config'))
  if mngr.latest_step() is None:
    raise UserError(f'no complete checkpoint in {directory}: train first (python -m '
                    f'flax_srae.main --workdir=...) or point at the run\'s workdir')
  return mngr


def params_key(config) -> str:
  """Which weights a checkpoint's state holds for inference: their average when training
  kept one."""
  return 'ema_params' if config.ema else 'params'


def load_weights(path: str, step: Optional[int] = None, collapse: bool = True):
  """(config, inference weights, step) of the checkpoint of `step` (default: the latest) in a
  workdir or checkpoints folder, the weights restored onto this process's first local device
  whatever devices wrote them; never the optimizer state. Weights trained with collapsible
  blocks come back collapsed, with a config of the plain network they now are, unless
  `collapse` is False."""
  mngr = read_only_manager(path)
  try:
    step = mngr.latest_step() if step is None else step
    if step not in mngr.all_steps():
      raise UserError(f'no checkpoint for step {step} in {mngr.directory}; saved steps: '
                      f'{", ".join(map(str, mngr.all_steps()))}')
    saved = restore(mngr, step, config=ocp.args.JsonRestore())['config']
    _refuse_former_autoencoder(saved, mngr.directory)
    config = ml_collections.ConfigDict(saved)
    with config.unlocked():  # fields that configs saved before they existed lack
      for field, value in _ADDED_FIELDS.items():
        config[field] = config.get(field, value)
    model = models.create_model(config)
    low_res_size = config.hr_size // models.scale_of(config)
    x = jax.ShapeDtypeStruct((1, low_res_size, low_res_size, config.channels), jnp.float32)
    placed = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=placed),
                            jax.eval_shape(model.init, jax.random.key(0), x)['params'])
    item = {params_key(config): abstract}
    state = restore(mngr, step, state=ocp.args.PyTreeRestore(
        item=item, restore_args=ocp.checkpoint_utils.construct_restore_args(item),
        partial_restore=True))['state']
  finally:
    mngr.close()
  params = state[params_key(config)]
  if config.expansion and collapse:
    params = models.collapse(params)
    with config.unlocked():
      config.expansion = 0
  return config, params, step


def save_weights(directory: str, step: int, params, config) -> None:
  """Writes DIRECTORY/checkpoints/STEP holding inference weights alone, as `load_weights`
  reads them, and their config."""
  mngr = ocp.CheckpointManager(checkpoint_dir(directory),
                               options=ocp.CheckpointManagerOptions(create=True),
                               item_names=('state', 'config'))
  mngr.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave({params_key(config): params}),
      config=ocp.args.JsonSave(config.to_dict())))
  mngr.wait_until_finished()
  mngr.close()


_REFUSED_WRITES = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)


def _write_failure(e: Exception) -> Optional[str]:
  """Why the OS refused a checkpoint's write (a full disk, permissions), or None for any other
  error. Orbax's own writes raise OSError; TensorStore's raise a ValueError whose text alone
  carries the OS's error number ('RESOURCE_EXHAUSTED: ... [os_error_code='<errno>']') or
  'PERMISSION_DENIED: ...': unread, a full disk would end training in TensorStore's traceback
  instead of the one-line error. Test: tests/test_reliability.py::
  test_training_into_a_disk_that_fills_ends_in_one_line_and_resumes_once_space_is_freed."""
  if isinstance(e, OSError):
    return (e.strerror or str(e)) if e.errno in _REFUSED_WRITES else None
  code = re.search(r"os_error_code='(\d+)'", str(e))
  if code and int(code.group(1)) in _REFUSED_WRITES:
    return os.strerror(int(code.group(1)))
  return 'permission denied' if str(e).startswith('PERMISSION_DENIED') else None


@contextlib.contextmanager
def _reported(mngr: ocp.CheckpointManager, what: str):
  """A write of `what` that the OS refuses becomes a WriteError (one line, exit status 1)."""
  try:
    yield
  except (OSError, ValueError) as e:
    why = _write_failure(e)
    if why is None:
      raise
    raise WriteError(f'saving {what} in {mngr.directory} failed ({why}): free disk space or '
                     f'fix permissions, then run the same command to resume; earlier '
                     f'checkpoints are intact') from e


def save(mngr: ocp.CheckpointManager, step: int, state, config) -> None:
  """Starts an asynchronous save; Orbax writes it to a temporary folder and renames it into
  place only once complete, so a crash mid-save leaves the previous checkpoint the latest."""
  with _reported(mngr, f'checkpoint {step}'):  # the previous save's failure is raised here too
    mngr.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), config=ocp.args.JsonSave(config.to_dict())))


def wait(mngr: ocp.CheckpointManager) -> None:
  """Waits for the pending save, reporting a failed one (disk full, ...) as a WriteError."""
  with _reported(mngr, 'a checkpoint'):
    mngr.wait_until_finished()


def close(mngr: ocp.CheckpointManager) -> None:
  """Closes a training run's manager; a save that failed has been reported already (or is
  reported by the error that ends the run), so its failure again here is only logged."""
  try:
    mngr.close()
  except Exception as e:  # pylint: disable=broad-except
    if _write_failure(e) is None:
      raise
    logging.warning('closing the checkpoint manager: %s', _write_failure(e))


def restore(mngr: ocp.CheckpointManager, step: int, resuming: bool = False, **items):
  """mngr.restore of the named items. A damaged checkpoint is a UserError naming the step and
  how to go on from the one before, for a run that is `resuming` or for a reader; nothing is
  deleted."""
  try:
    return mngr.restore(step, args=ocp.args.Composite(**items))
  except (FileNotFoundError, KeyError, ValueError, OSError) as e:
    earlier = max((s for s in mngr.all_steps() if s < step), default=None)
    folder = os.path.join(mngr.directory, str(step))
    if resuming:
      aside = os.path.join(os.path.dirname(mngr.directory), f'damaged_checkpoint_{step}')
      then = f'resume from step {earlier}' if earlier is not None else 'train from the start'
      fix = (f'move it aside (mv {shlex.quote(folder)} {shlex.quote(aside)}) and run the same '
             f'command to {then}')
    elif earlier is not None:
      fix = f'pass --step={earlier} (or load(..., step={earlier})) to use the one before'
    else:
      fix = 'no earlier checkpoint is kept: restore it from a copy, or train again'
    detail = str(e).splitlines()[0][:200] if str(e) else ''
    raise UserError(f'checkpoint {step} in {mngr.directory} is incomplete or damaged '
                    f'({type(e).__name__}: {detail}); {fix}; nothing was deleted') from e


def _refuse_former_autoencoder(saved: dict, directory) -> None:
  """The 'autoencoder' that came before the compressing one (28x28 in, 28x28 out, no code)
  saved no latent_dim. Its weights fit no model of this code: filled in with today's fields,
  loading them fails inside Orbax with a TypeError and resuming calls the checkpoint damaged."""
  spec = models.REGISTRY.get(models.registered_name(saved.get('model')))
  if spec is not None and spec.coder and 'latent_dim' not in saved:
    raise UserError(f'{directory} holds a checkpoint of the former uncompressing autoencoder, '
                    f'which this version no longer has: train configs/ae28.py (the compressing '
                    f'autoencoder) in another --workdir')


def _architecture(config_dict, model: str) -> dict:
  """The fields that fix `model`'s parameters: a checkpoint is only resumed by a config that
  agrees on all of them."""
  config_dict = {**_ADDED_FIELDS, **config_dict,
                 'model': models.registered_name(config_dict.get('model', ''))}
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
  saved = restore(mngr, step, resuming=True, config=ocp.args.JsonRestore())['config']
  _refuse_former_autoencoder(saved, mngr.directory)
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
  return restore(mngr, step, resuming=True,
                 state=ocp.args.StandardRestore(abstract_state))['state']


def initial_weights(path: str, config):
  """The weights of the run or model at `path` (`config.init_from`) to start `config`'s run
  from, refused in one line unless its architecture is `config`'s. Collapsible blocks are
  collapsed when `config` trains the plain network."""
  saved, params, step = load_weights(path, collapse=not config.expansion)
  want = _architecture(config.to_dict(), config.model)
  have = _architecture(saved.to_dict(), saved.get('model', ''))
  if want != have:
    diff = ', '.join(f'{k}: {have.get(k)!r} there vs {want.get(k)!r} here'
                     for k in want if want.get(k) != have.get(k))
    raise UserError(f'init_from {path} is another architecture ({diff}): start from a run of '
                    f'this config\'s network, or set the config to match it')
  logging.info('initial weights from %s (its step %d): a new optimizer and schedule', path, step)
  return params


def _optimizer(config_dict) -> dict:
  """The settings that change the form of the saved optimizer state (configs saved before
  they existed had none of them)."""
  return {'lr_schedule': config_dict.get('lr_schedule', 'constant'),
          'grad_clip': 'on' if config_dict.get('grad_clip', 0) else 'off',
          'ema': 'on' if config_dict.get('ema', 0) else 'off'}
