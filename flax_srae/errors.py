"""The error type for user mistakes (config values, files, data): printed as one line, no traceback."""


class UserError(Exception):
  """A problem the user can fix; the message names it and the fix."""
