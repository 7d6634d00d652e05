"""Branches: the shops and regions that carry staff authority, and their object permissions."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from audit.history import AuditedHistoricalRecords
from backoffice.evidence import UndeletableModel, UndeletableQuerySet


class Branch(UndeletableModel):
    """An operator shop or region: the object that carries staff authority."""

    code = models.SlugField(max_length=20, unique=True)
    name = models.CharField(max_length=120)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    history = AuditedHistoricalRecords()
    objects = UndeletableQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "branches"
        permissions = [
            ("view_branch_numbers", "Can see the numbers and holdings of the branch"),
            ("operate_branch", "Can sell and manage the numbers of the branch"),
            ("supervise_branch", "Can approve transfers and restorations for the branch"),
            ("handle_branch_complaints", "Can handle complaints of the branch"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class BranchUserObjectPermission(UserObjectPermissionBase):
    """Direct foreign-key object permissions: fast joins instead of generic keys."""

    content_object = models.ForeignKey(Branch, on_delete=models.CASCADE, verbose_name="branch")

    history = AuditedHistoricalRecords()

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "branch authority"
        verbose_name_plural = "branch authority"


class BranchGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Branch, on_delete=models.CASCADE)

    history = AuditedHistoricalRecords()

    class Meta(GroupObjectPermissionBase.Meta):
        pass
