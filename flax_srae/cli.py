"""What every command-line entry point shares: the CPU settings, quiet logs, one-line errors."""
import errno
import os
import sys
from typing import Callable, Iterable, Union

from absl import app
from absl import flags
from absl import logging

from flax_srae.platform import cpu_speedups
from flax_srae.errors import UserError
from flax_srae.errors import WriteError


def _exit_after_failed_write(message: str) -> None:
  """Prints `message` and exits 1 at once, without Python's shutdown: after a checkpoint save
  the OS refused (a full disk), Orbax's background threads are still failing and its asyncio
  tasks still pending, and while Python shut down they would print their errors and
  tracebacks below the one-line message. Tests: tests/test_reliability.py::
  test_a_failed_write_ends_in_one_line_though_tensorstore_calls_back_into_a_closed_loop, and
  the full-disk training test there when the timing falls so."""
  print(message, file=sys.stderr, flush=True)
  sys.stdout.flush()
  os._exit(1)  # pylint: disable=protected-access


def _drop_closed_loop_callbacks(unraisable, default=sys.unraisablehook) -> None:
  """sys.unraisablehook of the entry points: after a checkpoint write fails (a full disk),
  Orbax closes its asyncio loop while TensorStore writes it awaited are still under way, and
  each that completes calls back into the closed loop; Python would print every 'RuntimeError:
  Event loop is closed' with its traceback beside the one-line error. Other unraisable
  exceptions go to Python's hook. Test: tests/test_reliability.py::
  test_a_failed_write_ends_in_one_line_though_tensorstore_calls_back_into_a_closed_loop (the
  full-disk training test there meets it only when the timing falls so)."""
  if not (isinstance(unraisable.exc_value, RuntimeError)
          and str(unraisable.exc_value) == 'Event loop is closed'):
    default(unraisable)


def _flag_error(e: Exception) -> str:
  """One line for a mistake on the command line. config_flags reports an unknown config field
  as an AttributeError wrapping a KeyError whose text holds its suggestion, a config file that
  does not load as an OSError listing every path it tried, and one whose get_config fails
  with the whole traceback in the flag error's text; the config file's own code may raise
  anything."""
  inner = e
  while inner.args and isinstance(inner.args[0], Exception):
    inner = inner.args[0]
  text = str(inner.args[0]) if inner.args and isinstance(inner.args[0], str) else str(inner)
  lines = [line.strip() for line in text.splitlines() if line.strip()] or [type(inner).__name__]
  if isinstance(e, AttributeError) and isinstance(inner, KeyError):
    hint = f': {lines[1]}' if len(lines) > 1 else ''
    return f'--config has no field {lines[0]}{hint} (the fields are in configs/default.py)'
  if isinstance(e, flags.Error):
    if 'Error whilst parsing config file' in text:
      return f'cannot load --config: {lines[-1]}; fix the file or pass another'
    return ' '.join(lines)
  if isinstance(e, OSError):
    return f'cannot load --config: {lines[-1]}; pass a config file such as configs/sr28.py'
  if isinstance(e, TypeError) and 'config_path' in _last_file(e):
    return f'a --config.* value does not fit its field ({text}): see configs/default.py'
  if isinstance(e, SyntaxError):
    return f'cannot load --config: {e}; fix the file or pass another'
  return f'cannot load --config: {type(e).__name__}: {lines[-1]}; fix the file or pass another'


def _last_file(e: BaseException) -> str:
  """The file of the innermost frame that raised `e`."""
  tb = e.__traceback__
  while tb is not None and tb.tb_next is not None:
    tb = tb.tb_next
  return tb.tb_frame.f_code.co_filename if tb is not None else ''


def _parse_flags(argv):
  """absl's flag parsing, with a mistake in a flag's value (an unknown config field, a config
  file that does not load or whose code fails, a value out of range) ending the program in
  one line and status 1, where absl would print a traceback or a usage screen. Flag parsing
  runs nothing of ours but the config file: whatever it raises is that file's problem."""
  try:
    argv = flags.FLAGS(argv)
    if 'config' in flags.FLAGS and flags.FLAGS['config'].value is not None:
      # config_flags keeps a file that failed to load as an object that raises on first use.
      getattr(flags.FLAGS.config, 'keys')
    if len(argv) > 1:
      raise flags.Error(f'unexpected arguments: {" ".join(argv[1:])} (every input is a --flag; '
                        f'see --helpshort)')
    return argv
  except Exception as e:  # pylint: disable=broad-except
    print(f'error: {_flag_error(e)}', file=sys.stderr)
    sys.exit(1)


def run(command: Callable[[], object], quiet: bool = False,
        speedups: Union[bool, Iterable[str]] = True) -> None:
  """Runs `command` as an absl program that takes no positional arguments.

  Before it, and so before JAX starts: the process-wide CPU settings
  (`cpu_speedups.configure`: all, those named by `speedups`, or none when it is False and the
  command chooses them); with
  `quiet`, log messages below warnings are dropped unless --verbosity is given. A mistake in
  the flags, a UserError or a full disk ends the program with a one-line message on stderr and
  exit status 1.
  """

  def main(argv):
    del argv  # none: _parse_flags refuses positional arguments
    if quiet and not flags.FLAGS['verbosity'].present:
      logging.set_verbosity(logging.WARNING)
    if speedups:
      chosen = cpu_speedups.SPEEDUPS if speedups is True else speedups
      logging.info('CPU settings: %s', ', '.join(cpu_speedups.configure(chosen)) or 'none')
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

  app.run(main, flags_parser=_parse_flags)
