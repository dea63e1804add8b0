"""`Registry`: names in order, lookups, and errors that list the names and suggest the closest."""

from __future__ import annotations

import pytest

from mapfree.registry import Registry


def test_entries_by_name_in_registration_order():
    colours: Registry[int] = Registry("colour")
    colours.add("red", 1)
    colours.register("green")(2)
    assert colours.names() == ("red", "green") and list(colours) == ["red", "green"] and len(colours) == 2
    assert colours.get("green") == 2 and "red" in colours and "blue" not in colours
    assert repr(colours) == "('red', 'green')"


def test_unknown_names_list_the_choices_and_the_closest():
    colours: Registry[int] = Registry("colour")
    colours.add("red", 1)
    colours.add("green", 2)
    with pytest.raises(ValueError, match=r"unknown colour 'gren'; choose one of red, green \(did you mean 'green'\?\)"):
        colours.get("gren")
    assert colours.unknown("blue") == "unknown colour 'blue'; choose one of red, green"
    with pytest.raises(ValueError, match="registered twice"):
        colours.add("red", 3)
