from pathlib import Path as _Path

import numbers as _numbers

# See numbers/__init__.py: when the standard library's ``numbers`` module was
# imported before the app, let it also serve as the app package.
if not hasattr(_numbers, "__path__"):
    _numbers.__path__ = [str(_Path(__file__).resolve().parent.parent / "numbers")]

from .celery import app as celery_app  # noqa: E402

__all__ = ("celery_app",)
