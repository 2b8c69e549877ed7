"""Forms of the environment pages. They only parse input; the actions decide what is allowed."""

from __future__ import annotations

from django import forms

from blueprints.models import BlueprintVersion
from environments.choices import ClusterKind, DriftPolicy, EnvironmentMode, EnvironmentState, RoutingProvider
from environments.models import Cluster


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: BlueprintVersion) -> str:
        return f"{obj.blueprint.name} v{obj.number}" + (f" — {obj.message}" if obj.message else "")


class ClusterChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Cluster) -> str:
        label = f"{obj.name} ({obj.get_kind_display()})"
        if obj.is_simulated:
            label += " · simulated"
        return label + (" · default" if obj.is_default else "")


class CreateEnvironmentForm(forms.Form):
    """A published version of the team's blueprints, or pasted YAML — one of the two."""

    blueprint_version = VersionChoiceField(
        queryset=BlueprintVersion.objects.none(),
        required=False,
        to_field_name="public_id",
        empty_label="— paste YAML below instead —",
        label="Published blueprint version",
    )
    yaml = forms.CharField(
        required=False,
        label="Blueprint YAML",
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false"}),
    )
    name = forms.CharField(max_length=40, required=False, help_text="Empty: the blueprint's name")
    plan = forms.CharField(max_length=63, required=False, help_text="A plan of the blueprint, e.g. small")
    ttl = forms.CharField(max_length=20, required=False, label="TTL", help_text="e.g. 48h; empty: the blueprint's ttl")
    cluster = ClusterChoiceField(
        queryset=Cluster.objects.none(), required=False, to_field_name="name", empty_label="Default cluster"
    )

    def __init__(self, *args, team, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["blueprint_version"].queryset = (
            BlueprintVersion.objects.filter(blueprint__team=team)
            .select_related("blueprint")
            .order_by("blueprint__name", "-number")
        )
        self.fields["cluster"].queryset = Cluster.objects.order_by("name")

    def clean(self) -> dict:
        data = super().clean()
        has_version, has_yaml = bool(data.get("blueprint_version")), bool((data.get("yaml") or "").strip())
        if has_version and has_yaml:
            raise forms.ValidationError("Pick a published version or paste YAML, not both.")
        if not has_version and not has_yaml:
            raise forms.ValidationError("Pick a published version or paste blueprint YAML.")
        return data


class OverlayForm(forms.Form):
    """An overlay of a baseline (or of another overlay): only the services it changes."""

    yaml = forms.CharField(
        label="Overlay YAML",
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}),
        help_text="Only what changes; every other service is inherited",
    )
    name = forms.CharField(max_length=40, required=False, help_text="Empty: the YAML's name")
    ttl = forms.CharField(
        max_length=20, required=False, label="TTL", help_text="e.g. 8h; empty: the team's overlay TTL"
    )


class ListFilterForm(forms.Form):
    """The environment list's GET filters; invalid values are ignored rather than reported."""

    state = forms.ChoiceField(choices=[("", "Any state"), *EnvironmentState.choices], required=False)
    mode = forms.ChoiceField(choices=[("", "Any mode"), *EnvironmentMode.choices], required=False)
    deleted = forms.BooleanField(required=False, label="Include deleted")


class ScaleForm(forms.Form):
    service = forms.CharField(max_length=63)
    replicas = forms.IntegerField()


class ExtendTtlForm(forms.Form):
    ttl = forms.CharField(max_length=20)


class IdlePolicyForm(forms.Form):
    enabled = forms.BooleanField(required=False)
    delay_minutes = forms.IntegerField(required=False)


class RegisterClusterForm(forms.Form):
    name = forms.CharField(max_length=63)
    kind = forms.ChoiceField(choices=ClusterKind.choices, initial=ClusterKind.K3S)
    kubeconfig = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false"}),
        help_text="Paste the kubeconfig; it is stored encrypted and never shown again",
    )
    context = forms.CharField(max_length=200, required=False, help_text="Empty: the kubeconfig's current context")
    ingress_domain = forms.CharField(max_length=200, required=False)
    routing_provider = forms.ChoiceField(
        choices=[("", "Default for the kind"), *RoutingProvider.choices], required=False
    )
    storage_class = forms.CharField(max_length=100, required=False)
    is_default = forms.BooleanField(required=False, label="Default cluster")


class TeamPolicyForm(forms.Form):
    """A team's policy as the owners edit it; ``update_team_policy`` checks the ranges and ceilings."""

    max_environments = forms.IntegerField(label="Live environments at most")
    max_cpu_millicores = forms.IntegerField(label="CPU budget (millicores)")
    max_memory_mib = forms.IntegerField(label="Memory budget (MiB)")
    max_pods_per_environment = forms.IntegerField(label="Pods per environment")
    default_ttl_hours = forms.IntegerField(
        required=False, label="Default TTL, isolated (hours)", help_text="Empty: the maximum"
    )
    max_ttl_hours_isolated = forms.IntegerField(label="Maximum TTL, isolated (hours)")
    baseline_ttl_hours = forms.IntegerField(
        required=False, label="Default TTL, baselines (hours)", help_text="Empty: the maximum"
    )
    max_ttl_hours_baseline = forms.IntegerField(label="Maximum TTL, baselines (hours)")
    overlay_ttl_hours = forms.IntegerField(label="Default TTL, overlays (hours)")
    max_ttl_hours_overlay = forms.IntegerField(label="Maximum TTL, overlays (hours)")
    idle_delay_minutes = forms.IntegerField(
        label="Idle shutdown delay (minutes)", help_text="When the blueprint sets none"
    )
    snapshot_retention_days = forms.IntegerField(label="Snapshot retention (days)")
    drift_policy = forms.ChoiceField(choices=DriftPolicy.choices, label="On drift")
