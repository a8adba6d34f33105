"""The error type for user mistakes (config values, files, data): the command-line entry points
print it as one line, with no traceback (`cli.run`)."""


class UserError(Exception):
  """A problem the user can fix; the message names it and the fix."""


class WriteError(UserError):
  """The OS refused a write (a full disk, permissions): files written before are whole."""
