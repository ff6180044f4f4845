"""Address normalisation: identification by address (REQ-T9) must not depend on spelling."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_bridge.address import from_parts, parse_address

LENINA_5_12 = [
    "ул. Ленина д 5 кв 12",
    "Ленина 5-12",
    "улица Ленина, дом 5, квартира 12",
    "ул Ленина, д.5, кв.12",
    "ул.Ленина,д.5,кв.12",
    "УЛ. ЛЕНИНА, Д. 5, КВ. 12",
    "Ленина ул., 5, 12",
    "Ленина ул 5 кв 12",
    "Ленина д5 кв12",
    "Ленина, 5, кв. 12",
    "Ленина 5 12",
    "ул. им. Ленина, д. 5, кв. 12",
    "улица имени Ленина 5-12",
    "г. Демоград, ул. Ленина, д. 5, кв. 12",
    "663090, Красноярский край, г. Демоград, ул. Ленина, д. 5, кв. 12",
    "Россия, Демоградская обл., г Демоград, Ленина 5 - 12".replace(" - ", "-"),
    "ул. Ленина, дом № 5, кв. № 12",
    "ул. Ленина д. 005 кв. 012",
    "Ленина 5, квартира 12",
    "«ул. Ленина», д 5, кв 12",
]


@pytest.mark.parametrize("text", LENINA_5_12)
def test_lenina_5_12_forms_share_one_key(text: str) -> None:
    assert parse_address(text).key == "ленина|5|12"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("пр-т Мира 10к2-15", "проспект Мира, дом 10, корпус 2, квартира 15"),
        ("Мира пр., д.10 корп.2 кв.15", "пр-кт Мира д 10 к 2 кв 15"),
        ("ул. Ленина 5А-12", "Ленина д 5 а кв 12"),
        ("ул. Ленина 5а, кв 12", "Ленина 5-а, 12"),
        ("ул. Ленина 5a кв 12", "Ленина 5А-12"),  # Latin a
        ("ул Ленина 5/2 кв 3", "Ленина д. 5/2, кв. 3"),
        ("Ленина 5/2-3", "ул. Ленина, д. 5/2, кв. 3"),
        ("ул. Пролетарская д. 5 стр. 1", "Пролетарская 5с1"),
        ("ул. Пролетарская дом 5 строение 1", "Пролетарская д5 стр1"),
        ("Ленина 5 корп 2 кв 7", "Ленина 5к2 кв7"),
        ("Ленина д 5 к 2 кв 7", "ул. Ленина, д. 5, корп. 2, кв. 7"),
        ("Комсомольский 211Бк1-103", "пр-т Комсомольский, д. 211Б, корп. 1, кв. 103"),
        ("Ленина 5астр2", "Ленина 5 а стр 2"),
        ("Ленина 5бкв7", "Ленина д. 5б, кв. 7"),
        ("ул. Щёрса 1", "ул. Щерса 1"),
        ("ул Нижне-Садовая 3", "Нижнесадовая ул. 3"),
        ("2-я Кирпичная 4", "ул. Кирпичная 2-я, д. 4"),
        ("ул. 60 лет Октября, д. 5", "60 лет Октября 5"),
        ("ул. 8 Марта 14-3", "8 Марта ул., д. 14, кв. 3"),
        ("ул Карла Маркса 12-4", "Карла Маркса 12 кв 4"),
        ("пер. Почтовый 3", "Почтовый пер., д. 3"),
        ("б-р Победы 3", "бульвар Победы, д 3"),
        ("наб. Космонавтов 7", "набережная Космонавтов д. 7"),
        ("ш. Энтузиастов 1", "шоссе Энтузиастов дом 1"),
        ("пл. Революции 2", "площадь Революции, 2"),
        ("мкр Солнечный, д 5 кв 7", "микрорайон Солнечный 5-7"),
        ("пр-д Строителей 4", "проезд Строителей, д. 4"),
        ("Ленина, д. 5, офис 12", "Ленина 5-12"),
    ],
)
def test_equivalent_forms(a: str, b: str) -> None:
    key_a, key_b = parse_address(a).key, parse_address(b).key
    assert key_a is not None
    assert key_a == key_b


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Ленина 5-12", "Ленина 5-13"),
        ("Ленина 5-12", "Ленина 15-12"),
        ("Ленина 5а-12", "Ленина 5б-12"),
        ("Ленина 5к1-12", "Ленина 5к2-12"),
        ("Ленина 5/2-12", "Ленина 5-12"),
        ("Ленина 5-12", "Ленинская 5-12"),
        ("Ленина 5", "Ленина 5-12"),
    ],
)
def test_different_addresses_differ(a: str, b: str) -> None:
    assert parse_address(a).key != parse_address(b).key


def test_structured_parts() -> None:
    a = parse_address("663090, Красноярский край, г. Демоград, пр-т Мира, д. 10А, корп. 2, кв. 15")
    assert a.region == "красноярский"
    assert a.settlement_type == "город"
    assert a.settlement == "демоград"
    assert a.street_type == "проспект"
    assert a.street == "мира"
    assert a.house == "10а"
    assert a.building == "2"
    assert a.flat == "15"
    assert a.house_key == "мира|10а к2"
    assert a.key == "мира|10а к2|15"


def test_village_and_house_markers_are_told_apart() -> None:
    village = parse_address("д. Ивановка, ул. Садовая, д. 3")
    assert village.settlement == "ивановка"
    assert village.settlement_type == "деревня"
    assert village.key == "садовая|3|"
    selo = parse_address("с. Учебное, ул. Новая, 7 с 1")
    assert selo.settlement == "учебное"
    assert selo.house_full == "7 с1"


def test_town_without_comma() -> None:
    a = parse_address("г Демоград Ленина 5")
    assert a.settlement == "демоград"
    assert a.key == "ленина|5|"


@pytest.mark.parametrize("text", ["", "Ленина", "5-12", "г. Демоград", "кв 12"])
def test_incomplete_addresses_have_no_key(text: str) -> None:
    a = parse_address(text)
    assert a.key is None
    assert not a.complete


def test_partial_address_has_house_key_only_matching_flats() -> None:
    a = parse_address("ул. Ленина, д. 5")
    assert a.flat is None
    assert a.house_key == "ленина|5"
    assert parse_address("Ленина 5-12").house_key == a.house_key


def test_compatible_narrows_by_settlement_and_street_type() -> None:
    q = parse_address("г. Демоград, ул. Ленина 5-12")
    assert q.compatible(parse_address("г. Демоград, Ленина 5-12"))
    assert q.compatible(parse_address("Ленина 5-12"))
    assert not q.compatible(parse_address("г. Новоград, ул. Ленина 5-12"))
    assert not q.compatible(parse_address("пр-т Ленина 5-12"))


def test_from_parts_matches_free_text() -> None:
    parts = from_parts(
        settlement="г. Демоград", street_type="ул.", street="Ленина", house="5", flat="12"
    )
    assert parts.key == parse_address("Ленина 5-12").key
    assert parts.settlement == "демоград"
    assert parts.street_type == "улица"
    assert from_parts(street="ул. Ленина", house="5 корп. 2", flat="кв. 012").key == (
        "ленина|5 к2|12"
    )
    assert from_parts(street="60 лет Октября", house="5А").key == "60 лет октября|5а|"
    assert from_parts(street="Почтовый пер.", house="3", building="1", structure="2").key == (
        "почтовый|3 к1 с2|"
    )


def test_display() -> None:
    assert (
        parse_address("г Демоград, ул Ленина 5к2-12").display()
        == "г. демоград, ул. ленина, д. 5, корп. 2, кв. 12"
    )


_STREETS = [
    ("ул.", "улица", "Ленина"),
    ("ул.", "улица", "Карла Маркса"),
    ("ул.", "улица", "60 лет Октября"),
    ("ул.", "улица", "Нижне-Садовая"),
    ("пр-т", "проспект", "Мира"),
    ("пер.", "переулок", "Почтовый"),
    ("б-р", "бульвар", "Липовый"),
    ("наб.", "набережная", "Речная"),
    ("ш.", "шоссе", "Северное"),
    ("мкр", "микрорайон", "Солнечный"),
]


@given(
    street=st.sampled_from(_STREETS),
    number=st.integers(min_value=1, max_value=999),
    letter=st.sampled_from(["", "А", "б", "В"]),
    building=st.sampled_from([None, "1", "2", "12"]),
    flat=st.one_of(st.none(), st.integers(min_value=1, max_value=999)),
    style=st.integers(min_value=0, max_value=4),
)
def test_rendered_forms_match_structured_parts(
    street: tuple[str, str, str],
    number: int,
    letter: str,
    building: str | None,
    flat: int | None,
    style: int,
) -> None:
    """Property: however the address is written, its key equals the key of its parts."""
    short, full, name = street
    house = f"{number}{letter}"
    expected = from_parts(
        street_type=short,
        street=name,
        house=house,
        building=building,
        flat=str(flat) if flat else None,
    ).key
    k = f" корп. {building}" if building else ""
    kc = f"к{building}" if building else ""
    f = flat
    forms = [
        f"{short} {name}, д. {house}{k}" + (f", кв. {f}" if f else ""),
        f"{full} {name}, дом {house}{k.replace('корп.', 'корпус')}"
        + (f", квартира {f}" if f else ""),
        f"{name} {short} {house}{kc}" + (f"-{f}" if f else ""),
        f"{short}{'' if short.endswith('.') else ' '}{name},д.{house}{kc}"
        + (f",кв.{f}" if f else ""),
        f"г. Демоград, {name} {full}, {house}{k}" + (f", {f}" if f else ""),
    ]
    assert parse_address(forms[style]).key == expected, forms[style]
