"""Public ids: prefixed, fixed length, random, assigned once on first save."""

from __future__ import annotations

import re

import pytest

from konto.accounts.models import ApiToken, Invitation, Org, User
from konto.accounts.testing import make_org
from konto.core.ids import new_public_id


@pytest.mark.parametrize("prefix", ["org", "usr", "tok", "inv"])
def test_a_public_id_is_the_prefix_and_16_base36_characters(prefix):
    public_id = new_public_id(prefix)
    assert re.fullmatch(rf"{prefix}_[0-9a-z]{{16}}", public_id)
    assert len(public_id) == len(prefix) + 17


def test_public_ids_do_not_repeat():
    assert len({new_public_id("org") for _ in range(20_000)}) == 20_000


def test_every_character_position_is_random_over_the_whole_alphabet():
    # Sequential or time-based ids would keep their leading characters; random ones use all 36 at each position
    ids = [new_public_id("org") for _ in range(3_000)]
    for position in (4, 10, 19):
        assert len({public_id[position] for public_id in ids}) == 36


@pytest.mark.parametrize(("model", "prefix"), [(Org, "org"), (User, "usr"), (ApiToken, "tok"), (Invitation, "inv")])
def test_each_model_declares_its_prefix(model, prefix):
    assert model._meta.get_field("public_id").prefix == prefix


def test_the_id_is_assigned_on_the_first_save_and_never_changes(db):
    org = make_org(legal_name="Erste GmbH")
    public_id = org.public_id
    assert re.fullmatch(r"org_[0-9a-z]{16}", public_id)

    org.legal_name = "Umbenannt GmbH"
    org.save()

    org.refresh_from_db()
    assert org.public_id == public_id
    assert make_org(legal_name="Zweite GmbH").public_id != public_id
