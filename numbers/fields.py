from django.core import validators
from django.db import models

from .msisdn import E164_PATTERN, normalize_msisdn


class MsisdnField(models.CharField):
    """A mobile number stored in E.164; any input format is normalized on clean."""

    default_validators = [validators.RegexValidator(E164_PATTERN, "Store numbers in E.164 form, e.g. +85512345678.")]

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 16)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return value
        return normalize_msisdn(value)
