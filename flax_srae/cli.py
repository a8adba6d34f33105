"""What every command-line entry point shares: the CPU settings, quiet logs, one-line errors."""
import sys
from typing import Callable

from absl import app
from absl import flags
from absl import logging

from flax_srae import cpu_speedups
from flax_srae.errors import UserError


def run(command: Callable[[], object], quiet: bool = False, speedups: bool = True) -> None:
  """Runs `command` as an absl program that takes no positional arguments.

  Before it, and so before JAX starts: the process-wide CPU settings
  (`cpu_speedups.configure`), unless `speedups` is False (the command then chooses them); with `quiet`, log messages below warnings are
  dropped unless --verbosity is given. A UserError ends the program with its one-line message
  on stderr and exit status 1.
  """

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
    if quiet and not flags.FLAGS['verbosity'].present:
      logging.set_verbosity(logging.WARNING)
    if speedups:
      logging.info('CPU settings: %s', ', '.join(cpu_speedups.configure()) or 'none')
    try:
      command()
    except UserError as e:
      print(f'error: {e}', file=sys.stderr)
      sys.exit(1)

  app.run(main)
