"""Forms of the snapshot pages. They only parse input; the actions decide what is allowed."""

from __future__ import annotations

from django import forms

from snapshots.models import SanitizationPolicy, SnapshotState


class ListFilterForm(forms.Form):
    """The snapshot list's GET filters; invalid values are ignored rather than reported."""

    state = forms.ChoiceField(choices=[("", "Any live state"), *SnapshotState.choices], required=False)


class PolicyChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: SanitizationPolicy) -> str:
        return f"{obj.name} v{obj.version}" + (" · strict" if obj.strict else "")


class TakeSnapshotForm(forms.Form):
    """Which service of the environment to capture, and with which policy version."""

    service = forms.CharField(max_length=63, required=False, help_text="Empty: the environment's database")
    policy = PolicyChoiceField(
        queryset=SanitizationPolicy.objects.none(),
        required=False,
        to_field_name="public_id",
        empty_label="Strict default (no rules)",
    )

    def __init__(self, *args, team, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["policy"].queryset = SanitizationPolicy.objects.filter(team=team).order_by("name", "-version")


class RestoreForm(forms.Form):
    """The target of a restore: an environment (by public id) and optionally a service.

    The select offers the environments the user may restore into, but any id is accepted here:
    the view resolves it with the visibility rule and the action says why a target is refused.
    """

    environment = forms.CharField(max_length=40, widget=forms.Select)
    service = forms.CharField(max_length=63, required=False, help_text="Empty: the snapshot's service")

    def __init__(self, *args, environments=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.offer(environments)

    def offer(self, environments) -> None:
        """The environments the select lists."""
        self.fields["environment"].widget.choices = [
            (env.public_id, f"{env.team.slug}/{env.name} ({env.public_id})") for env in environments
        ]


class PolicyForm(forms.Form):
    name = forms.SlugField(max_length=63, help_text="Publishing under an existing name makes its next version")
    yaml = forms.CharField(
        label="Policy YAML",
        strip=False,
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false"}),
    )
