"""Every integer field of every registry request model is strict and bounded."""

import typing

import pytest
from pydantic import ValidationError

from folio.registry.service import commands as c

NOT_INTEGERS = ["100", 10.0, True, False]
OUT_OF_RANGE = [2**63, -(2**63) - 1]


def _is_integer(annotation) -> bool:
    if annotation is int:
        return True
    if typing.get_origin(annotation) is typing.Annotated:
        return _is_integer(typing.get_args(annotation)[0])
    return any(_is_integer(arg) for arg in typing.get_args(annotation))


def integer_fields() -> list[tuple[type[c.Command], str]]:
    found = []
    for model in c.Command.__subclasses__():
        for name, info in model.model_fields.items():
            if _is_integer(info.annotation):
                found.append((model, name))
    return found


def test_the_models_have_the_integer_fields_we_expect():
    names = {(m.__name__, f) for m, f in integer_fields()}
    assert {
        ("CreateUnit", "monthly_base_rent_minor"),
        ("UpdateUnit", "monthly_base_rent_minor"),
        ("CreateMortgage", "principal_minor"),
        ("UpdateMortgage", "principal_minor"),
        ("RequestRenewal", "amount_minor"),
        ("RequestRenewal", "months"),
        ("SetBeds24Mapping", "beds24_property_id"),
        ("CreateBooking", "max_renewals"),
    } <= names


@pytest.mark.parametrize(
    ("model", "field"), integer_fields(), ids=lambda v: getattr(v, "__name__", v)
)
@pytest.mark.parametrize("value", NOT_INTEGERS + OUT_OF_RANGE, ids=repr)
def test_integer_fields_refuse_coercion_and_out_of_range(model, field, value):
    with pytest.raises(ValidationError) as caught:
        model.model_validate({field: value})
    assert any(error["loc"][:1] == (field,) for error in caught.value.errors()), value


def test_a_plain_integer_is_still_accepted():
    assert (
        c.UpdateUnit.model_validate({"monthly_base_rent_minor": 100}).monthly_base_rent_minor == 100
    )
    assert c.RequestRenewal.model_validate({"amount_minor": 1}).amount_minor == 1
