"""The autoinformer's part of the operator's card (REQ-O5): a callee who
pressed 0 reaches an operator, whose card shows the campaign by name and
kind, the message the callee just heard (with their own values), the
callee's name, number and account — not «Абонент: Не определён».

Registered with :func:`crm_bridge.card.describe_outbound_with` by
:mod:`autoinformer.plugin`; the CRM does not read the autoinformer's tables.
"""

from __future__ import annotations

from typing import Any

from autoinformer.campaigns import KIND_TITLES, Kind, preview_text
from autoinformer.models import Campaign, Contact
from crm_bridge.models import Account

__all__ = ["describe_outbound"]


def describe_outbound(db: Any, campaign: str, contact: str) -> dict[str, Any] | None:
    """The card's ``outbound`` block for the channel variables
    ``HOTLINE_CAMPAIGN``/``HOTLINE_CONTACT`` (None: not one of ours)."""
    if not (campaign.isdigit() and contact.isdigit()):
        return None
    with db.session(readonly=True) as s:
        c = s.get(Campaign, int(campaign))
        ct = s.get(Contact, int(contact))
        if c is None or ct is None or ct.campaign_id != c.id:
            return None
        variables = dict(ct.variables or {})
        account = s.get(Account, ct.account_id) if ct.account_id is not None else None
        try:
            kind = KIND_TITLES[Kind(c.kind)]
        except ValueError:
            kind = c.kind
        return {
            "name": c.name,
            "kind": kind,
            "message": preview_text(c.scenario, variables, tz=ct.timezone),
            "phone": ct.phone,
            "account": str(variables.get("account") or (account.number if account else "")),
            "callee": str(variables.get("name") or (account.holder_name if account else "")),
        }
