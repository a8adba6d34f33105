"""Data parallelism over every device of every process, with `jax.sharding`.

One mesh axis, 'data': a global batch is cut into equal blocks of rows, one per device, and
the parameters and optimizer state are replicated, so the gradient of the mean loss costs one
all-reduce per step (XLA inserts it). The models are small (0.26M-1M float32 parameters:
1-4 MB, three times that with Adam's two moments): sharding the state as well (ZeRO/FSDP)
would save memory that no device is short of and add an all-gather to every step.
"""
import os
from typing import Optional, Sequence

import jax
from jax.experimental import multihost_utils
import numpy as np

from flax_srae.errors import UserError

DATA_AXIS = 'data'


def _env_int(name: str) -> int:
  try:
    return int(os.environ[name])
  except (KeyError, ValueError) as e:
    raise UserError(f'JAX_COORDINATOR_ADDRESS is set, so {name} must be an integer, got '
                    f'{os.environ.get(name)!r}: set JAX_NUM_PROCESSES and JAX_PROCESS_ID on '
                    f'every process, or unset JAX_COORDINATOR_ADDRESS') from e


def maybe_initialize_distributed() -> None:
  """Joins a multi-process run when the environment describes one; must precede any device use.

  By hand: JAX_COORDINATOR_ADDRESS=host:port (process 0's), JAX_NUM_PROCESSES and
  JAX_PROCESS_ID on every process (JAX reads only the address; we pass the other two). Under
  `srun` (Slurm) or `mpirun` (Open MPI) with several tasks JAX finds all three itself. A
  Slurm batch script run without srun has one task and stays a single process.
  """
  if 'JAX_COORDINATOR_ADDRESS' in os.environ:
    jax.distributed.initialize(num_processes=_env_int('JAX_NUM_PROCESSES'),
                               process_id=_env_int('JAX_PROCESS_ID'))
  elif any(int(os.environ.get(v, '1')) > 1
           for v in ('SLURM_STEP_NUM_TASKS', 'OMPI_COMM_WORLD_SIZE')):
    jax.distributed.initialize()


def create_mesh(devices: Optional[Sequence[jax.Device]] = None) -> jax.sharding.Mesh:
  """A 1-D mesh over `devices` (default: all devices of all processes).

  jax.devices() lists each process's devices together, so each process's share of a batch
  is one contiguous block of rows.
  """
  return jax.sharding.Mesh(np.asarray(jax.devices() if devices is None else devices),
                           (DATA_AXIS,))


def replicated(mesh: jax.sharding.Mesh) -> jax.sharding.NamedSharding:
  return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())


def _rows_sharding(mesh: jax.sharding.Mesh) -> jax.sharding.NamedSharding:
  return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(DATA_AXIS))


def process_rows(mesh: jax.sharding.Mesh, n: int) -> slice:
  """The rows of an `n`-row global batch that live on this process's devices."""
  spans = [range(n)[index[0]]  # a device holding every row has slice(None)
           for index in _rows_sharding(mesh).addressable_devices_indices_map((n,)).values()]
  return slice(min(s.start for s in spans), max(s.stop for s in spans))


def shard_rows(mesh: jax.sharding.Mesh, local_rows: np.ndarray, n: int) -> jax.Array:
  """The `n`-row global batch split over the devices, made from this process's
  `process_rows(mesh, n)` of it: no process ever holds the others' rows."""
  return jax.make_array_from_process_local_data(_rows_sharding(mesh), local_rows,
                                                (n,) + local_rows.shape[1:])


def replicate(mesh: jax.sharding.Mesh, value: np.ndarray) -> jax.Array:
  """A host value every process holds, copied onto every device."""
  value = np.asarray(value)
  return jax.make_array_from_process_local_data(replicated(mesh), value, value.shape)


def to_host(tree):
  """Numpy copies of (possibly sharded) arrays, whole on every process: reading a sharded
  array directly fails once other processes hold some of its rows."""
  return multihost_utils.process_allgather(tree, tiled=True)


def agreed(flag: bool) -> bool:
  """Process 0's `flag` in every process: a decision read from each host's own clock must be
  one decision, or the processes would leave the training loop at different steps and wait on
  each other's collectives for ever."""
  if jax.process_count() == 1:
    return flag
  return bool(multihost_utils.broadcast_one_to_all(np.asarray(flag)))
