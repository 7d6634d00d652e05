"""Refuse to start with an inactivity policy that breaks the operator's terms."""

from django.core.checks import Error, register


@register()
def lifecycle_policy_check(app_configs, **kwargs):
    from .lifecycle import configured_policy

    return [Error(f"NUMBER_LIFECYCLE: {problem}", id="numbers.E001") for problem in configured_policy().problems()]
