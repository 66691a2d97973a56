"""Admin and form base classes that accept type parameters at runtime too.

django-stubs makes ModelAdmin, TabularInline and ModelForm generic for mypy;
Django's classes are not subscriptable at runtime. These thin subclasses are,
so `class OrgAdmin(ModelAdmin[Org])` type-checks and runs without a
monkeypatch of Django.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin

if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin
    TabularInline = admin.TabularInline
    ModelForm = forms.ModelForm
else:

    def _ignore_parameters(cls: type, *_params: Any) -> type:
        return cls

    class ModelAdmin(admin.ModelAdmin):
        __class_getitem__ = classmethod(_ignore_parameters)

    class TabularInline(admin.TabularInline):
        __class_getitem__ = classmethod(_ignore_parameters)

    class ModelForm(forms.ModelForm):
        __class_getitem__ = classmethod(_ignore_parameters)


__all__ = ["ModelAdmin", "ModelForm", "TabularInline"]
