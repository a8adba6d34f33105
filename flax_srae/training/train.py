"""The training loop: TrainState + Adam, MSE or L1 loss, a jitted step, Orbax checkpoints,
evaluations (`evaluation`) along the way."""
import functools
import math
import os
import signal
import time
from typing import Any, Optional

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax.training import train_state

from flax_srae.training import checkpointing
from flax_srae.platform import cpu_speedups
from flax_srae.training import evaluation
from flax_srae.platform import files
from flax_srae.data import image_ops
from flax_srae.data import input_pipeline
from flax_srae import inference
from flax_srae import models
from flax_srae.platform import parallel
from flax_srae.platform import run_lock
from flax_srae.training import samples
from flax_srae.training import curves
from flax_srae.errors import UserError


LOSSES = {'mse': lambda d: jnp.mean(d ** 2), 'l1': lambda d: jnp.mean(jnp.abs(d))}
LR_SCHEDULES = ('constant', 'cosine')


class EmaTrainState(train_state.TrainState):
  """flax's TrainState plus an exponential moving average of the weights (`config.ema` > 0),
  which evaluation and inference then use. Without EMA the plain TrainState is used, so
  checkpoints keep the form they always had."""
  ema_params: Any = None


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Rejects bad values before anything is loaded or compiled."""
  _check_numbers_finite(config)
  if models.registered_name(config.model) not in models.REGISTRY:
    raise UserError(f'unknown model {config.model!r}: choose one of {", ".join(models.MODELS)}')
  spec = models.spec(config)
  _validate_architecture(config, spec)
  _validate_coding(config)
  _validate_data(config, spec)
  _validate_optimisation(config)


def _validate_architecture(config, spec: models.Spec) -> None:
  """The network's fields, as its registry record declares them."""
  if config.dtype not in models.DTYPES:
    raise UserError(f'dtype must be one of {", ".join(models.DTYPES)}, got {config.dtype!r}')
  if config.channels not in (1, 3):
    raise UserError(f'channels must be 1 (grayscale) or 3 (RGB), got {config.channels}')
  if 'width' in spec.fields:
    if config.width < 1 or config.num_blocks < 0:
      raise UserError(f'{config.model} needs width >= 1 and num_blocks >= 0, got width '
                      f'{config.width}, num_blocks {config.num_blocks}')
  elif len(config.features) != 3 or min(config.features) < 1:
    raise UserError(f'features must be three positive widths, e.g. (32, 64, 128), got '
                    f'{tuple(config.features)}')
  if not isinstance(config.expansion, int) or config.expansion < 0:
    raise UserError(f'expansion must be a whole number >= 0 (0: plain convolutions), got '
                    f'{config.expansion}')
  collapsible = [name for name, s in models.REGISTRY.items() if 'expansion' in s.fields]
  if config.expansion and 'expansion' not in spec.fields:
    raise UserError(f'expansion (collapsible blocks) applies to models '
                    f'{" and ".join(collapsible)}, not {config.model}: set --config.expansion=0')
  last_in = spec.output_in(config) if spec.output_in else 0
  if config.expansion and last_in == 4 * config.channels:
    # A block adds its input where the widths agree: the output layer would not start at zero.
    raise UserError(f'expansion with {config.model} width {config.width} gives the output layer '
                    f'{last_in} channels in and out, which a collapsible block would add to its '
                    f'output: choose another width')


def _validate_data(config, spec: models.Spec) -> None:
  """The images, the protocol and how the run is cut into steps, evaluations and files."""
  if config.degradation not in image_ops.DEGRADATIONS:
    raise UserError(f'unknown degradation {config.degradation!r}: choose one of '
                    f'{", ".join(image_ops.DEGRADATIONS)}')
  protocol = input_pipeline.protocol_of(config)
  if protocol.whole_images and (config.degradation != 'bicubic' or not spec.literature):
    whole = ' or '.join(name for name, s in models.REGISTRY.items() if s.literature)
    raise UserError(f"protocol 'literature' is x2 super-resolution of whole images of any size "
                    f"from bicubic downscales: set --config.degradation=bicubic and model "
                    f"{whole}")
  if config.shave < 0:
    raise UserError(f'shave must be >= 0, got {config.shave}')
  scales = input_pipeline.train_scales(config)
  if not scales or not all(isinstance(s, (int, float)) and 0 < s <= 1 for s in scales):
    raise UserError(f'train_scales must be factors in (0, 1] (1: the images themselves), e.g. '
                    f'(1.0, 0.8, 0.6), got {scales}')
  if scales != (1.0,) and not protocol.whole_images:
    raise UserError(f"train_scales {scales} applies to protocol 'literature' only: set "
                    f"--config.train_scales='(1.0,)'")
  if config.hr_size % spec.multiple or config.hr_size < 12:
    raise UserError(f'hr_size must be a multiple of {spec.multiple} and at least 12 (the SSIM '
                    f'window) for model {config.model}, got {config.hr_size}')
  for name in ('batch_size', 'num_train_steps', 'eval_batch_size', 'num_eval_patches',
               'log_every_steps', 'eval_every_steps', 'checkpoint_every_steps', 'keep_checkpoints',
               'num_samples'):
    if config[name] <= 0:
      raise UserError(f'{name} must be positive, got {config[name]}')


def _validate_optimisation(config) -> None:
  """The loss, the optimiser and its schedule."""
  if config.loss not in LOSSES:
    raise UserError(f'unknown loss {config.loss!r}: choose one of {", ".join(LOSSES)}')
  if not 0 <= config.mse_finetune <= 1:
    raise UserError(f'mse_finetune is the fraction of steps trained on MSE at the end: it must be '
                    f'in [0, 1], got {config.mse_finetune}')
  if config.lr_schedule not in LR_SCHEDULES:
    raise UserError(f'unknown lr_schedule {config.lr_schedule!r}: choose one of '
                    f'{", ".join(LR_SCHEDULES)}')
  if not 0 <= config.warmup_steps < config.num_train_steps:
    raise UserError(f'warmup_steps must be in [0, num_train_steps), got {config.warmup_steps}')
  if config.warmup_steps and config.lr_schedule == 'constant':
    raise UserError(f"warmup_steps ({config.warmup_steps}) applies to lr_schedule 'cosine' only: "
                    f"set lr_schedule=cosine or warmup_steps=0")
  if config.grad_clip < 0:
    raise UserError(f'grad_clip must be >= 0 (0: off), got {config.grad_clip}')
  if not 0 <= config.ema < 1:
    raise UserError(f'ema must be in [0, 1) (0: off; e.g. 0.999), got {config.ema}')
  if config.seed < 0:
    raise UserError(f'seed must be >= 0, got {config.seed}')
  if config.learning_rate <= 0:
    raise UserError(f'learning_rate must be positive, got {config.learning_rate}')
  if config.batch_size % jax.device_count():
    raise UserError(f'batch_size {config.batch_size} must divide by the {jax.device_count()} '
                    f'devices: use a multiple of {jax.device_count()}')


def _check_numbers_finite(config, prefix: str = '') -> None:
  """NaN passes every range check below (each comparison with it is false) and inf several:
  both would train until the loss stops being finite."""
  for name, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      _check_numbers_finite(value, f'{prefix}{name}.')
    elif any(isinstance(v, float) and not math.isfinite(v)
             for v in (value if isinstance(value, (tuple, list)) else (value,))):
      raise UserError(f'{prefix}{name} must be a finite number, got {value}')


def _validate_coding(config) -> None:
  """The autoencoder's fields: a code smaller than the image, a sane noise level."""
  if not config.noise_std >= 0 or not np.isfinite(config.noise_std):
    raise UserError(f'noise_std must be a finite value >= 0 (0: no noise), got '
                    f'{config.noise_std}')
  if not models.is_coder(config):
    if config.noise_std:
      raise UserError(f'noise_std (denoising) applies to model autoencoder, not {config.model}: '
                      f'set --config.noise_std=0')
    return
  values = models.input_values(config)
  if not isinstance(config.latent_dim, int) or not 1 <= config.latent_dim < values:
    raise UserError(f'latent_dim must be a whole number from 1 to {values - 1}: the code must '
                    f'hold fewer values than the {config.hr_size}x{config.hr_size}x'
                    f'{config.channels} image ({values}), got {config.latent_dim}')


def learning_rate_fn(config):
  """The learning rate: constant, or linear warmup then cosine decay to zero at the last step."""
  if config.lr_schedule == 'constant':
    return config.learning_rate
  return optax.warmup_cosine_decay_schedule(0.0, config.learning_rate, config.warmup_steps,
                                            config.num_train_steps)


def create_train_state(config, model, rng) -> train_state.TrainState:
  low_res_size = config.hr_size // models.scale_of(config)
  x = jnp.zeros((1, low_res_size, low_res_size, config.channels), jnp.float32)
  params = model.init(rng, x)['params']
  tx = optax.adam(learning_rate_fn(config))
  if config.grad_clip:
    tx = optax.chain(optax.clip_by_global_norm(config.grad_clip), tx)
  if config.ema:
    state = EmaTrainState.create(apply_fn=model.apply, params=params, tx=tx,
                                 ema_params=jax.tree.map(jnp.copy, params))
  else:
    state = train_state.TrainState.create(apply_fn=model.apply, params=params, tx=tx)
  # A Python int step would make the first call trace differently from the rest.
  return state.replace(step=jnp.zeros((), jnp.int32))


def eval_params(state):
  """The weights to evaluate and ship: their moving average when training keeps one."""
  ema = getattr(state, 'ema_params', None)
  return state.params if ema is None else ema


def noise_key(config):
  """The key of a denoising autoencoder's training noise, folded with each step in
  `train_step`: apart from the initialisation's key (`jax.random.key(config.seed)`)."""
  return jax.random.fold_in(jax.random.key(config.seed), 1)


@functools.partial(jax.jit, static_argnames=('degradation', 'scale', 'loss_type', 'ema',
                                             'noise_std'),
                   donate_argnums=(0, 2))
def train_step(state, hr, first_bad_step, degradation: str, scale: int,
               loss_type: str = 'mse', low_res=None, ema: float = 0.0, noise_std: float = 0.0,
               noise_key=None):
  """One Adam step on `loss_type` ('mse' or 'l1'). The input is `low_res` when the data comes in
  (low, high)-resolution pairs, else `hr` degraded here (`input_pipeline.model_input`; for an
  autoencoder with `noise_std`, noise drawn from `noise_key` folded with the step, so a
  resumed run draws the same). `first_bad_step` (-1 while all is well) records on the device
  the first step whose loss or gradient was not finite, so the host need not sync every step.
  With `ema` > 0 the average of the weights moves too, at a rate that starts fast, so that
  early evaluations are not of the initial weights."""
  if low_res is None:
    key = None if noise_key is None else jax.random.fold_in(noise_key, state.step)
    x = input_pipeline.model_input(hr, degradation, scale, noise_std, key)
  else:
    x = low_res

  def loss_fn(params):
    return LOSSES[loss_type](state.apply_fn({'params': params}, x) - hr)

  loss, grads = jax.value_and_grad(loss_fn)(state.params)
  finite = jnp.isfinite(loss) & jnp.all(jnp.array(
      [jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
  first_bad_step = jnp.where((first_bad_step < 0) & ~finite, state.step + 1, first_bad_step)
  new = state.apply_gradients(grads=grads)
  if ema:
    decay = jnp.minimum(ema, (1.0 + new.step) / (10.0 + new.step))
    new = new.replace(ema_params=jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p,
                                              state.ema_params, new.params))
  return new, loss, first_bad_step


def initializer(config, model, mesh):
  """A function making the initial train state: one compiled program (about twice as fast as
  op-by-op init), placed on every device of `mesh`; its abstract value carries that placement,
  so a restore lands there too, whatever device count wrote the checkpoint."""
  return jax.jit(functools.partial(create_train_state, config, model, jax.random.key(config.seed)),
                 out_shardings=parallel.replicated(mesh))


def stepper(config, data, mesh):
  """`step(state, n, first_bad_step) -> (state, loss, first_bad_step)`: training step `n` on
  its batch (this process's rows, sharded over `mesh`), as `config` asks (its loss, L1 then
  MSE for the last `mse_finetune` of the run, its noise, its moving average). The one training
  step of `train_and_evaluate` and of the benchmark."""
  rows = parallel.process_rows(mesh, config.batch_size)
  scale = models.scale_of(config)
  noise = (config.noise_std, noise_key(config)) if config.noise_std else (0.0, None)
  mse_after = mse_from(config)

  def step(state, n: int, first_bad_step):
    batch = {k: parallel.shard_rows(mesh, v, config.batch_size)
             for k, v in input_pipeline.batch(data, config, n, rows).items()}
    return train_step(state, batch['hr'], first_bad_step, config.degradation, scale,
                      'mse' if n > mse_after else config.loss, batch.get('low_res'), config.ema,
                      *noise)

  return step


def mse_from(config) -> int:
  """The last step trained on `config.loss`: after it, MSE (EDSR's and RCAN's fine-tuning)."""
  return config.num_train_steps - round(config.mse_finetune * config.num_train_steps)


class _StopRequest:
  """Turns SIGINT/SIGTERM into a flag checked between steps, so a stop saves a checkpoint."""

  def __init__(self):
    self.signal = None
    self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}

  def _handle(self, signum, frame):
    del frame
    if self.signal is not None:  # second Ctrl-C: stop now
      raise KeyboardInterrupt
    self.signal = signal.Signals(signum).name
    logging.warning('%s received: finishing this step and saving a checkpoint', self.signal)

  def restore(self):
    for s, handler in self._old.items():
      signal.signal(s, handler)


def _check_finite(first_bad_step: int, mngr) -> None:
  if first_bad_step >= 0:
    kept = mngr.latest_step()
    raise UserError(f'loss or gradient not finite at step {first_bad_step}; stopped without '
                    f'saving it (last good checkpoint: {kept if kept is not None else "none"}):'
                    f' lower learning_rate')


def _check_writable(workdir: str):
  try:
    os.makedirs(workdir, exist_ok=True)
    # One probe per process: processes sharing the workdir must not delete each other's.
    probe = os.path.join(workdir, f'.write_test{jax.process_index()}')
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as e:
    raise UserError(f'cannot write to workdir {workdir}: {e.strerror}; choose another '
                    f'--workdir') from e


class _Evaluator:
  """The evaluations during and after training: figures, TensorBoard scalars and samples. An
  upscaler is set against bicubic; an autoencoder against PCA with as many components,
  fitted once on the training data."""

  def __init__(self, model, data, config, mesh, writer):
    self.model, self.data, self.config, self.mesh, self.writer = model, data, config, mesh, writer
    self.baseline, self.pca_fit = 'bicubic', None
    if models.is_coder(config):
      self.baseline = 'pca'
      self.pca_fit = evaluation.fit_pca(data.train, config)
      logging.info('PCA baseline: %d components fitted on the training images',
                   config.latent_dim)

  def __call__(self, state, step: int):
    """(every method's figures, results.json's 'eval': the model's and its baseline's PSNR
    and SSIM, the sample grid's columns and labels), logged to TensorBoard at `step`."""
    params = eval_params(state)
    methods = evaluation.evaluate(self.model, params, self.data.eval, self.config, self.mesh,
                                  pca_fit=self.pca_fit)
    m = {'psnr': methods['model']['psnr'], 'ssim': methods['model']['ssim'],
         f'{self.baseline}_psnr': methods[self.baseline]['psnr'],
         f'{self.baseline}_ssim': methods[self.baseline]['ssim']}
    grid = evaluation.sample_columns(self.model, params, self.data.eval, self.config, self.mesh,
                                     pca_fit=self.pca_fit)
    self.writer.scalars(step, {f'eval/{k}': v for k, v in m.items()})
    self.writer.samples(step, grid[0])
    return methods, m, grid

  def summary(self, m: dict) -> str:
    name = {'pca': f'PCA {self.config.latent_dim}'}.get(self.baseline, self.baseline)
    return (f'eval psnr {m["psnr"]:.2f} dB, ssim {m["ssim"]:.4f}; {name} '
            f'{m[f"{self.baseline}_psnr"]:.2f} dB, ssim {m[f"{self.baseline}_ssim"]:.4f}')


class _Progress:
  """Throughput and time left, measured over the steps this process has run since it
  compiled the step (evaluations and checkpoints included in the time left)."""

  def __init__(self, config, first_step: int):
    self.config, self.first_step, self.t0 = config, first_step, time.perf_counter()
    self.window_step, self.window_t0 = first_step, self.t0

  def line(self, step: int, loss: float):
    """The progress line and (seconds, steps) of the window since the previous line."""
    now = time.perf_counter()
    seconds, steps = now - self.window_t0, step - self.window_step
    per_step = (now - self.t0) / (step - self.first_step)
    eta = round(per_step * (self.config.num_train_steps - step))
    text = (f'step {step}/{self.config.num_train_steps}  loss {loss:.5f}  '
            f'{steps / seconds:.1f} steps/s  {steps * self.config.batch_size / seconds:.0f} img/s'
            f'  ETA {eta // 3600}:{eta // 60 % 60:02d}:{eta % 60:02d}')
    return text, seconds, steps

  def restart_window(self, step: int):
    self.window_step, self.window_t0 = step, time.perf_counter()


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       chunk_minutes: float = 0) -> Optional[dict]:
  """Trains (or resumes) to `config.num_train_steps`, then writes results.json and samples.png.

  With `chunk_minutes` > 0 the run stops after about that long, saving a checkpoint, and
  returns None: a long run goes in chunks, each resumed by the same call.

  Data parallel over all devices of all processes: every process runs this with the same
  config and workdir, feeds its own rows of each batch, and process 0 writes the files.
  Returns the results dict. A finished run is evaluated again but not retrained. One run at a
  time per workdir: a second one stops at once with a UserError (`run_lock`).
  """
  if not 0 <= chunk_minutes < math.inf:
    raise UserError(f'chunk_minutes must be >= 0 (0: no limit), got {chunk_minutes}')
  validate_config(config)
  _check_writable(workdir)
  _check_init_from(config, workdir)
  deadline = time.monotonic() + 60 * chunk_minutes if chunk_minutes else math.inf
  with run_lock.hold(workdir, jax.process_index()):
    return _train_and_evaluate(config, workdir, deadline)


def _check_init_from(config, workdir: str) -> None:
  """A missing `init_from` is refused before any work, unless the run has checkpoints of its
  own to resume from, when it is not read."""
  if not config.init_from:
    return
  saved = checkpointing.checkpoint_dir(workdir)
  if os.path.isdir(saved) and any(name.isdigit() for name in os.listdir(saved)):
    return  # resuming
  if not os.path.isdir(inference.resolve(config.init_from)):
    raise UserError(f'init_from {config.init_from!r} is not a folder: give a workdir, a '
                    f'checkpoints folder or pretrained:NAME')


def _train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                        deadline: float) -> Optional[dict]:
  data, mesh = input_pipeline.load(config), parallel.create_mesh()
  _log_setup(config, data, mesh)
  model = models.create_model(config, **cpu_speedups.layers())
  mngr = checkpointing.manager(workdir, config.keep_checkpoints)
  state = _restore_or_init(config, model, mesh, mngr)
  start = int(state.step)
  writer = curves.Writer(workdir, start, enabled=jax.process_index() == 0)
  run = _Run(config, workdir, mngr, start, writer,
             _Evaluator(model, data, config, mesh, writer))
  stop = _StopRequest()
  try:
    state = _train(run, state, stepper(config, data, mesh),
                   parallel.replicate(mesh, np.int32(-1)), stop, deadline)
  except BaseException:
    try:
      run.writer.close()  # the event files so far; the error that stopped the run is what matters
    except Exception:  # pylint: disable=broad-except
      logging.exception('closing the TensorBoard files failed')
    raise
  finally:
    stop.restore()
    checkpointing.close(mngr)
  if int(state.step) < config.num_train_steps:
    run.writer.close(os.path.join(workdir, 'curves.png'))
    logging.info('chunk ended at step %d of %d; checkpoint saved in %s: run the same command to '
                 'go on', int(state.step), config.num_train_steps, workdir)
    return None
  return run.results(state, data, _parameter_counts(state))


def _log_setup(config, data, mesh) -> None:
  rows = parallel.process_rows(mesh, config.batch_size)
  scales = input_pipeline.train_scales(config)
  logging.info('data: %s, %d train images%s, %d eval %s', config.dataset, len(data.train),
               f' ({len(data.train) // len(scales)} at scales {scales})' if len(scales) > 1
               else '', len(data.eval),
               'whole images' if input_pipeline.protocol_of(config).whole_images
               else f'patches of {config.hr_size}x{config.hr_size}')
  logging.info('data parallel on %d %s devices in %d process(es): %d images per device, rows '
               '%d:%d of each batch from this process', jax.device_count(),
               jax.default_backend(), jax.process_count(),
               config.batch_size // jax.device_count(), rows.start, rows.stop)
  if config.dtype == 'bfloat16' and jax.default_backend() == 'cpu':
    logging.warning('dtype bfloat16 on CPU: usually slower than float32; it pays on GPU/TPU')


def _restore_or_init(config, model, mesh, mngr):
  """The latest checkpoint's train state, else a new one (with `init_from`'s weights when
  set); its parameter count logged."""
  init = initializer(config, model, mesh)
  state = checkpointing.restore_latest(mngr, jax.eval_shape(init), config)
  if state is None:
    state = init()
    if config.init_from:
      params = jax.device_put(
          checkpointing.initial_weights(inference.resolve(config.init_from), config),
          parallel.replicated(mesh))
      state = state.replace(params=params, **(
          {'ema_params': jax.tree.map(jnp.copy, params)} if config.ema else {}))
  else:
    logging.info('resumed from %s at step %d', mngr.directory, int(state.step))
  shipped, trained = _parameter_counts(state)
  logging.info('model %s: %d parameters%s', config.model, shipped,
               f' (trained as {trained} in collapsible blocks)' if trained != shipped else '')
  return state


def _parameter_counts(state):
  """(the count that ships, the count trained): collapsible blocks train more weights than the
  network they fold into."""
  shipped = sum(p.size for p in jax.tree.leaves(jax.eval_shape(models.collapse, state.params)))
  return shipped, sum(p.size for p in jax.tree.leaves(state.params))


def _train(run: '_Run', state, run_step, first_bad_step, stop: _StopRequest,
           deadline: float = math.inf):
  """Steps from the state's to `num_train_steps`: progress lines, evaluations and checkpoints
  as the config asks; a signal saves a checkpoint and stops with a UserError, and the first
  progress line past the `deadline` (time.monotonic()) saves one and returns the state
  reached."""
  config = run.config
  t_compile, progress = time.perf_counter(), None
  for step in range(int(state.step) + 1, config.num_train_steps + 1):
    state, loss, first_bad_step = run_step(state, step, first_bad_step)
    # The switch to MSE compiles a second step: not timed.
    if step == mse_from(config) + 1 and progress is not None:
      loss.block_until_ready()
      progress.restart_window(step)
    final = step == config.num_train_steps
    report = step % config.log_every_steps == 0 or step % config.eval_every_steps == 0 or final
    if report:
      _check_finite(int(first_bad_step), run.mngr)
    if progress is None:
      loss.block_until_ready()  # the first step compiles: keep it out of images/s
      logging.info('compiled and ran the first step in %.1fs', time.perf_counter() - t_compile)
      progress = _Progress(config, step)
    elif report:
      run.report(step, loss, state, progress, evaluate=step % config.eval_every_steps == 0
                 and not final)
    # A signal may have arrived during this step: read the flag once, for both decisions.
    stopping = stop.signal
    # Read at progress lines only: on several hosts it costs a broadcast.
    out_of_time = (report and not final and deadline < math.inf
                   and parallel.agreed(time.monotonic() > deadline))
    if step % config.checkpoint_every_steps == 0 or final or stopping or out_of_time:
      _check_finite(int(first_bad_step), run.mngr)  # a checkpoint never holds a NaN
      run.save(step, state)
    if out_of_time and not stopping:
      break
    if stopping:
      checkpointing.wait(run.mngr)
      raise UserError(f'stopped by {stopping} at step {step}; checkpoint saved in '
                      f'{run.mngr.directory}: run the same command to resume')
  checkpointing.wait(run.mngr)
  return state


class _Run:
  """What a training run writes beside its checkpoints: TensorBoard scalars, the training
  time (added up over resumes, in a side file kept in step with the checkpoints), and at the
  end results.json, samples.png and curves.png."""

  def __init__(self, config, workdir: str, mngr, start: int, writer: curves.Writer,
               evaluate: '_Evaluator'):
    self.config, self.workdir, self.mngr = config, workdir, mngr
    self.timing_path = os.path.join(workdir, 'train_timing.json')
    self.timing = ((start and files.read_json(self.timing_path))
                   or {'seconds': 0.0, 'steps_timed': 0})
    self.writer, self.evaluate = writer, evaluate
    learning_rate_at = learning_rate_fn(config)
    self.learning_rate_at = (learning_rate_at if callable(learning_rate_at)
                             else (lambda _: learning_rate_at))

  def report(self, step: int, loss, state, progress: '_Progress', evaluate: bool) -> None:
    """The progress line (with an evaluation when `evaluate`) and the training scalars."""
    line, seconds, steps = progress.line(step, float(loss))  # float() waits for the step
    self.timing['seconds'] += seconds
    self.timing['steps_timed'] += steps
    self.writer.scalars(step, {'train/loss': float(loss),
                               'train/learning_rate': float(self.learning_rate_at(step - 1)),
                               'train/images_per_sec': steps * self.config.batch_size / seconds})
    if evaluate:
      line += '  ' + self.evaluate.summary(self.evaluate(state, step)[1])
    logging.info(line)
    progress.restart_window(step)

  def save(self, step: int, state) -> None:
    checkpointing.save(self.mngr, step, state, self.config)  # by every process: Orbax coordinates
    if jax.process_index() == 0:
      files.write_json(self.timing_path, self.timing)
    self.writer.save()

  def results(self, state, data, counts) -> dict:
    """The final evaluation, written as results.json, samples.png and curves.png; returned."""
    config, step = self.config, int(state.step)
    methods, m, (columns, labels) = self.evaluate(state, step)
    logging.info('step %d: %s', step, self.evaluate.summary(m))
    results = {'step': step, 'model': config.model, 'dataset': config.dataset,
               'eval_split': config.eval_split, 'num_eval_images': len(data.eval),
               'eval': m, 'parameters': counts[0], 'trained_parameters': counts[1]}
    if models.is_coder(config):
      results['coding'] = dict(evaluation.coding_summary(config), methods=methods)
    # Steps that include compilation are not timed: a run of one step has no throughput.
    seconds = self.timing['seconds']
    results['train'] = dict(self.timing, images_per_sec=(
        self.timing['steps_timed'] * config.batch_size / seconds if seconds else None))
    self.writer.close(os.path.join(self.workdir, 'curves.png'))
    if jax.process_index() == 0:
      files.write_json(os.path.join(self.workdir, 'results.json'), results)
      samples.write_grid(os.path.join(self.workdir, 'samples.png'), columns, labels=labels)
      logging.info('wrote results.json, samples.png, curves.png and tensorboard/ in %s',
                   self.workdir)
    return results
