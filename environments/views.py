"""Environment-app pages. Clusters for now: the list (everyone) and the registration form (admins)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from environments import actions
from environments.choices import ClusterKind, RoutingProvider
from environments.models import Cluster
from microstax.lib.errors import DomainError


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


@login_required
def cluster_list(request: HttpRequest) -> HttpResponse:
    form = RegisterClusterForm(request.POST or None) if request.user.is_superuser else None
    if request.method == "POST" and form is not None and form.is_valid():
        data = form.cleaned_data
        try:
            cluster = actions.register_cluster(
                actor=request.user,
                **{**data, "context": data["context"] or None, "routing_provider": data["routing_provider"] or None},
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"Cluster '{cluster.name}' registered: {cluster.get_health_display()}.")
            return redirect("environments:clusters")
    status = 400 if form is not None and form.errors else 200
    return render(
        request,
        "environments/clusters.html",
        {"clusters": Cluster.objects.order_by("name"), "form": form},
        status=status,
    )
