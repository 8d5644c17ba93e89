"""What the OpenAPI schema says beyond what drf-spectacular reads from the views: the error answers."""

ERROR_SCHEMA = {
    "type": "object",
    "description": 'DRF\'s error shape: {"detail": "..."}, or a list of messages per field.',
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}
ERROR_ANSWERS = {
    "400": "The request was refused: the messages say why.",
    "401": "The API token is unknown or revoked.",
    "403": "Not allowed: a read token writing, or not a publisher of this product.",
    "404": "No such thing, or nothing the caller may see.",
    "405": "This method is not allowed here.",
    "409": "The release is not in a state that allows this.",
}


def add_error_answers(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: every operation may answer with the errors above."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for status, description in ERROR_ANSWERS.items():
                operation["responses"].setdefault(status, {"description": description, "content": reference})
    return result
