"""Take the chain lock before a tracked row is written, not only when its history is.

A write outside the services (an admin form saving configuration, say) would
otherwise lock its row first and wait for the chain lock second, while a
service holding the chain lock waits for that row: a deadlock. Taking the chain
lock in pre_save keeps the one order: chain lock first, then rows.
"""

from django.db.models.signals import m2m_changed, pre_delete, pre_save

from .context import chain_lock


def _is_tracked(model) -> bool:
    return getattr(model._meta, "simple_history_manager_attribute", None) is not None


def _lock_before_write(sender, **kwargs):
    if _is_tracked(sender):
        chain_lock()


def _lock_before_m2m(sender, instance, action, **kwargs):
    if action.startswith("pre_") and _is_tracked(type(instance)):
        chain_lock()


def connect() -> None:
    pre_save.connect(_lock_before_write, dispatch_uid="audit_chain_lock_save")
    pre_delete.connect(_lock_before_write, dispatch_uid="audit_chain_lock_delete")
    m2m_changed.connect(_lock_before_m2m, dispatch_uid="audit_chain_lock_m2m")
