"""The one error body: messages in words, for every shape DRF gives a validation error."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from senolab.api.errors import exception_handler


class _Choices(serializers.Serializer):
    formats = serializers.ListField(child=serializers.ChoiceField(choices=["coco", "csv"]))


def test_a_list_items_error_names_its_position_instead_of_failing():
    # Given a list field whose second item is invalid (DRF keys its errors by index, an int)
    body = _Choices(data={"formats": ["coco", "gif"]})
    assert not body.is_valid()
    # When the API's handler turns it into the error body
    response = exception_handler(ValidationError(body.errors), {})
    # Then it answers 400 with a sentence naming the field and the item, not a server error
    assert response is not None and response.status_code == 400
    message = response.data["error"]["message"]
    assert message.startswith("Formats: item 2: ")
    assert "gif" in message
