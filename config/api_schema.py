"""OpenAPI schema machinery shared by every API module (drf-spectacular).

``AutoSchema`` is the project's DEFAULT_SCHEMA_CLASS. It documents the answers every endpoint can
give without each view repeating them, so endpoints added later are described correctly too:

- 403 everywhere: anonymous callers (session auth answers 403, not 401) and, on supervisor-only
  endpoints, agents;
- 404 wherever the path carries an id, and on paginated lists (a page past the end);
- 400 wherever the caller sends a body or query parameters that are validated.

It also names serializers nested in a view after the view (``ClaimNextApi.InputSerializer`` ->
``ClaimNextInput``) so the many nested ``Input``/``Output`` classes do not collide, and marks
supervisor-only operations in their description.
"""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from config.permissions import IsSupervisor


class ErrorDetail(serializers.Serializer):
    """DRF's error body for 403, 404 and errors not tied to a field."""

    detail = serializers.CharField()


# DRF validation errors: {"field": ["message", ...], ...} or, for errors without a field,
# ["message", ...]; a malformed body gives {"detail": "..."}.
VALIDATION_ERROR_SCHEMA = {
    "oneOf": [
        {"type": "object", "additionalProperties": {}},
        {"type": "array", "items": {"type": "string"}},
    ]
}

_SUFFIXES = ("Serializer", "Api", "APIView", "View")


def _strip(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and name != suffix:
            return name[: -len(suffix)]
    return name


class AutoSchema(openapi.AutoSchema):
    def get_serializer_name(self, serializer, direction) -> str:
        qualname = type(serializer).__qualname__
        if "." in qualname and "<locals>" not in qualname:
            outer, inner = qualname.split(".")[-2:]
            return _strip(outer) + _strip(inner)
        return super().get_serializer_name(serializer, direction)

    def _resolve_path_parameters(self, variables):
        parameters = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            # ``<int:id>`` matches digits only: "-1" is not this URL at all.
            if f"(?P<{parameter['name']}>[0-9]+)" in self.path_regex:
                parameter["schema"] = {**parameter["schema"], "minimum": 0}
        return parameters

    def _is_supervisor_only(self) -> bool:
        return any(isinstance(p, IsSupervisor) for p in self.view.get_permissions())

    def get_description(self) -> str:
        description = super().get_description() or ""
        if self._is_supervisor_only():
            note = "Supervisors and admins only; agents get 403."
            description = f"{description}\n\n{note}" if description else note
        return description

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses

        def add(code: str, schema, description: str) -> None:
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(schema, description=description), code, direction=direction
                )

        query = {p["name"] for p in self._get_parameters() if p.get("in") == "query"}
        has_query = bool(query)
        if self.method in ("POST", "PUT", "PATCH") or has_query:
            add("400", VALIDATION_ERROR_SCHEMA, "Invalid input")
        add("403", ErrorDetail, "Not authenticated, or not allowed for your role")
        # A page past the end is a 404 from the paginator.
        if "{" in self.path or "page" in query:
            add("404", ErrorDetail, "Not found")
        return responses
