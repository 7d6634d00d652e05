"""Kept for the migrations that name ``numbers.fields.MsisdnField``: the field lives in backoffice.fields."""

from backoffice.fields import MsisdnField

__all__ = ["MsisdnField"]
