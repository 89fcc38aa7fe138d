from django import template

register = template.Library()

JSON_TYPES = {
    "numeric": "number",
    "boolean": "true or false",
    "categorical": "string (a category)",
    "datetime": "string (a date)",
    "text": "string (free text)",
}


@register.filter
def json_type(kind: str) -> str:
    """What a request sends for a column of ``kind``."""
    return JSON_TYPES.get(kind, "string")
