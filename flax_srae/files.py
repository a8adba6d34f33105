"""Files written whole: a reader (or a crash) never sees a half-written result."""
import contextlib
import json
import os


@contextlib.contextmanager
def atomic_path(path: str):
  """Yields a temporary path beside `path` (same suffix, so writers that go by it pick the
  format) and moves it onto `path` only once the block has finished writing it."""
  stem, ext = os.path.splitext(path)
  tmp = f'{stem}.tmp{os.getpid()}{ext}'
  try:
    yield tmp
    os.replace(tmp, path)
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
