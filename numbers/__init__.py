"""The ``numbers`` app shares its name with Python's standard ``numbers`` module.

The layout asks for a top-level ``numbers/`` app, and whichever of the two is
imported first owns ``sys.modules["numbers"]``. So that both work whatever the
entry point, this package also defines the standard library's numeric ABCs (it
runs the stdlib source in its own namespace), and ``backoffice/__init__.py``
gives the stdlib module this folder as its ``__path__`` when the stdlib one won
the race. Either way there is one module with ``numbers.Number`` and
``numbers.models``.
"""

import os as _os
import sysconfig as _sysconfig

_stdlib_source = _os.path.join(_sysconfig.get_paths()["stdlib"], "numbers.py")
with open(_stdlib_source, encoding="utf-8") as _source:
    exec(compile(_source.read(), _stdlib_source, "exec"))  # noqa: S102 - the stdlib's own file
