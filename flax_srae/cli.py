"""What every command-line entry point shares: the CPU settings, quiet logs, one-line errors."""
import errno
import os
import sys
from typing import Callable

from absl import app
from absl import flags
from absl import logging

from flax_srae import cpu_speedups
from flax_srae.errors import UserError
from flax_srae.errors import WriteError


def _exit_after_failed_write(message: str) -> None:
  """Prints `message` and exits 1 at once: the background threads of a checkpoint save that
  the OS refused would otherwise print tracebacks while Python shuts down."""
  print(message, file=sys.stderr, flush=True)
  sys.stdout.flush()
  os._exit(1)  # pylint: disable=protected-access


def _drop_closed_loop_callbacks(unraisable, default=sys.unraisablehook) -> None:
  """sys.unraisablehook of the entry points: after a checkpoint write fails (a full disk),
  TensorStore still calls back into the asyncio loop Orbax has closed, and each call would
  print a traceback; the failure itself is reported once, in one line."""
  if not (isinstance(unraisable.exc_value, RuntimeError)
          and str(unraisable.exc_value) == 'Event loop is closed'):
    default(unraisable)


def run(command: Callable[[], object], quiet: bool = False, speedups: bool = True) -> None:
  """Runs `command` as an absl program that takes no positional arguments.

  Before it, and so before JAX starts: the process-wide CPU settings
  (`cpu_speedups.configure`), unless `speedups` is False (the command then chooses them); with
  `quiet`, log messages below warnings are dropped unless --verbosity is given. A UserError,
  or a full disk, ends the program with a one-line message on stderr and exit status 1.
  """

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
    if quiet and not flags.FLAGS['verbosity'].present:
      logging.set_verbosity(logging.WARNING)
    if speedups:
      logging.info('CPU settings: %s', ', '.join(cpu_speedups.configure()) or 'none')
    sys.unraisablehook = _drop_closed_loop_callbacks
    try:
      command()
    except WriteError as e:
      _exit_after_failed_write(f'error: {e}')
    except UserError as e:
      print(f'error: {e}', file=sys.stderr)
      sys.exit(1)
    except OSError as e:
      if e.errno not in (errno.ENOSPC, errno.EDQUOT):
        raise
      # Every result is written whole (files.atomic_path, Orbax's renamed folders).
      where = f' writing {e.filename}' if e.filename else ''
      _exit_after_failed_write(f'error: {e.strerror}{where}: free disk space and run the same '
                               f'command again; the files written before are whole')

  app.run(main)
