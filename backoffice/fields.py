import re

from django.core import validators
from django.db import models

from .msisdn import E164_PATTERN, normalize_msisdn


class MsisdnField(models.CharField):
    """A mobile number stored in E.164; any input format is normalized on clean and save.

    Lookups are left alone: a prefix or a not-yet-valid value must be searchable
    without raising, and a stored E.164 value is never re-parsed (a later
    phonenumbers release must not make an existing row unsavable).
    """

    default_validators = [validators.RegexValidator(E164_PATTERN, "Store numbers in E.164 form, e.g. +85512345678.")]

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 16)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values or re.fullmatch(E164_PATTERN, value):
            return value
        return normalize_msisdn(value)

    def get_prep_value(self, value):
        value = models.Field.get_prep_value(self, value)
        return value if value is None else str(value)

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if hasattr(value, "resolve_expression") or value in self.empty_values:
            return value
        value = self.to_python(value)
        setattr(model_instance, self.attname, value)
        return value
