from __future__ import annotations

from django import forms

from microstax.teams.choices import Role


class TeamForm(forms.Form):
    slug = forms.CharField(max_length=50, help_text="Lowercase letters, digits and hyphens")
    name = forms.CharField(max_length=100)


class RenameTeamForm(forms.Form):
    name = forms.CharField(max_length=100)


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.DEVELOPER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    expires_in_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, help_text="Leave empty for a token that does not expire"
    )
