"""Files written whole: a reader (or a crash) never sees a half-written result."""
import contextlib
import json
import os


@contextlib.contextmanager
def atomic_path(path: str, overwrite: bool = True):
  """Yields a temporary path beside `path` (same suffix, so writers that go by it pick the
  format) and moves it onto `path` only once the block has finished writing it. Without
  `overwrite`, it appears at `path` only if nothing is there by then (else FileExistsError)."""
  stem, ext = os.path.splitext(path)
  tmp = f'{stem}.tmp{os.getpid()}{ext}'
  try:
    yield tmp
    if overwrite:
      os.replace(tmp, path)
    else:
      os.link(tmp, path)  # fails if `path` exists, where a rename would replace it
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_json(path: str, obj) -> None:
  with atomic_path(path) as tmp, open(tmp, 'w') as f:
    json.dump(obj, f, indent=2)


def read_json(path: str):
  """The JSON in `path`, or None when it is missing or unreadable."""
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None
