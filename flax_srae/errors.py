"""The error type for user mistakes (config values, files, data): printed as one line, no traceback."""
import sys
from typing import Callable

from absl import app


class UserError(Exception):
  """A problem the user can fix; the message names it and the fix."""


def run_command(command: Callable[[], object]) -> None:
  """Runs `command` as an absl program: no positional arguments, a UserError is one line on
  stderr and exit status 1."""

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
    try:
      command()
    except UserError as e:
      print(f'error: {e}', file=sys.stderr)
      sys.exit(1)

  app.run(main)
