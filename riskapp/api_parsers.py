"""API request parsers that refuse NUL characters in any submitted text, with a 400 rather than a database error.

PostgreSQL cannot store or even compare text containing NUL, so a lookup such as `framework="a\\u0000"` would
otherwise end as a 500. Uploaded files (multipart) are bytes and are left alone.
"""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser


def _refuse_nul(value, path: str = "body") -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ParseError(f"{path} contains a NUL character, which no field accepts.")
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, path)
            _refuse_nul(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _refuse_nul(item, f"{path}[{index}]")


class NulSafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _refuse_nul(data)
        return data


class NulSafeFormParser(FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        for key, values in data.lists():
            _refuse_nul(key)
            _refuse_nul(values, key)
        return data


class NulSafeMultiPartParser(MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        for key, values in parsed.data.lists():
            _refuse_nul(key)
            _refuse_nul(values, key)
        return parsed
