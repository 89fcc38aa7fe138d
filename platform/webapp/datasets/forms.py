from django import forms

DELIMITERS = [(",", "comma ,"), (";", "semicolon ;"), ("\t", "tab"), ("|", "pipe |")]
DECIMALS = [(".", "point 1.5"), (",", "comma 1,5")]
ENCODINGS = [
    ("utf-8", "UTF-8"),
    ("utf-8-sig", "UTF-8 with BOM"),
    ("utf-16", "UTF-16"),
    ("cp1252", "Windows-1252"),
    ("latin-1", "Latin-1 (ISO 8859-1)"),
]


class DialectForm(forms.Form):
    """How to read a text file, when the detected options were wrong."""

    delimiter = forms.ChoiceField(choices=DELIMITERS)
    decimal = forms.ChoiceField(choices=DECIMALS)
    encoding = forms.ChoiceField(choices=ENCODINGS)
    has_header = forms.BooleanField(required=False, label="First row holds column names")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("delimiter") == cleaned.get("decimal"):
            raise forms.ValidationError("The decimal mark cannot be the delimiter.")
        return cleaned
