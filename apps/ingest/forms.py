from django import forms

from apps.ingest.models import ScrubRule


class ScrubRuleForm(forms.Form):
    kind = forms.ChoiceField(choices=ScrubRule.Kind.choices)
    pattern = forms.CharField(
        max_length=500,
        help_text="A key such as ssn or customer.* , or a regular expression such as ssn=(?P<redact>\\d+)",
    )
    action = forms.ChoiceField(choices=ScrubRule.ScrubAction.choices)
    category = forms.CharField(max_length=40, initial="custom", help_text="Shown in the replacement: [REDACTED:ssn]")
