"""Refuse to start with an inactivity policy that breaks the operator's terms."""

from django.core.checks import Error, register


@register()
def lifecycle_policy_check(app_configs, **kwargs):
    from .lifecycle import configured_policy

    return [Error(f"NUMBER_LIFECYCLE: {problem}", id="numbers.E001") for problem in configured_policy().problems()]


@register(deploy=True)
def identity_keys_check(app_configs, **kwargs):
    """``check --deploy``: the public development identity keys never serve a live site."""
    from django.conf import settings

    if settings.DEBUG:
        return []
    errors = []
    if getattr(settings, "_DEV_IDENTITY_HASH_KEY", None) == settings.IDENTITY_HASH_KEY:
        errors.append(Error("IDENTITY_HASH_KEY is the public development key: set it.", id="numbers.E002"))
    if getattr(settings, "_DEV_IDENTITY_ENCRYPTION_KEY", None) == settings.IDENTITY_ENCRYPTION_KEY:
        errors.append(Error("IDENTITY_ENCRYPTION_KEY is the public development key: set it.", id="numbers.E003"))
    return errors
