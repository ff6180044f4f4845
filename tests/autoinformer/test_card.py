"""The operator's card of a callee who pressed 0 during a campaign's message
(REQ-O5, issue 15 item 6), on SQLite and PostgreSQL: the customer, the
account and the campaign by name and message — not «Абонент: Не
определён», «Номер: скрыт», «Кампания обзвона: 1; контакт: 7»."""

from __future__ import annotations

from decimal import Decimal

from autoinformer.campaigns import CampaignService
from autoinformer.contacts import ContactListService
from crm_bridge.card import build_card
from crm_bridge.db import Database
from telephony.contract import Var
from tests.autoinformer.helpers import make_accounts


def test_the_card_of_an_outbound_transfer(any_db: Database) -> None:
    import autoinformer.plugin  # noqa: F401 - registers the card's outbound part

    phone = "+79004480001"
    numbers = make_accounts(any_db, [phone], prefix="97", debt=Decimal("2345.60"))
    cs = CampaignService(any_db)
    cid = cs.create("Долги за ноябрь", "debt", created_by="disp")
    ContactListService(any_db).import_rows(cid, [{"phone": phone}], by="disp")
    (contact,) = cs.contacts(cid)
    # What the message flow sets before the queue (autoinformer.flow).
    vars = {
        str(Var.CAMPAIGN): str(cid),
        str(Var.CONTACT): str(contact.id),
        str(Var.ACCOUNT): numbers[phone],
    }
    card = build_card(any_db, "ai-test-uniqueid", vars=vars)
    out = card["outbound"]
    assert (out["name"], out["kind"], out["phone"]) == ("Долги за ноябрь", "Задолженность", phone)
    assert out["account"] == numbers[phone] and out["callee"] == "Абонент 0"
    assert "две тысячи триста сорок пять рублей шестьдесят копеек" in out["message"]
    assert card["account"]["number"] == numbers[phone]
    assert card["account"]["holder"] == "Абонент 0"
    assert card["ident"]["method"] == "campaign" and card["ident"]["verified"] is True
    # Without the account variable (an older flow): the campaign's list gives it.
    del vars[str(Var.ACCOUNT)]
    card = build_card(any_db, "ai-test-uniqueid", vars=vars)
    assert card["account"]["number"] == numbers[phone]
    assert card["ident"]["method"] == "campaign"
    # A contact of another campaign, or not ours: the numbers only, nothing guessed.
    other = cs.create("Другая", "debt", created_by="disp")
    card = build_card(
        any_db, "x", vars={str(Var.CAMPAIGN): str(other), str(Var.CONTACT): str(contact.id)}
    )
    assert card["outbound"] == {"campaign": str(other), "contact": str(contact.id)}
    assert card["account"] is None
