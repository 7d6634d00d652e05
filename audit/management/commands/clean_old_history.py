from ._refuse_purge import RefusePurge as Command  # noqa: F401
