"""Screen a referral against the criteria for a CSPR (SPEC 1) and spot a looked-after child's death."""

from __future__ import annotations

from typing import Any


def screen(referral: dict[str, Any]) -> dict[str, Any]:
    """``{"result": "met" | "not_met" | "unclear", "reasons": [...]}`` for the referral's fields.

    Met: abuse or neglect known or suspected, and the child died or was seriously harmed. Not met: abuse or
    neglect is neither known nor suspected. Anything we cannot tell is unclear, never a guess.
    """
    abuse = referral.get("abuse_or_neglect")
    incident = referral.get("incident_type")
    reasons: list[str] = []
    if abuse in ("known", "suspected"):
        reasons.append(f"abuse or neglect is {abuse}")
    elif abuse == "no":
        reasons.append("the referral says abuse or neglect is neither known nor suspected")
    else:
        reasons.append("the referral does not say whether abuse or neglect is known or suspected")
    if incident == "death":
        reasons.append("the child has died")
    elif incident == "serious_harm":
        reasons.append("the child has been seriously harmed")
    else:
        reasons.append("the referral does not say whether the child died or was seriously harmed")

    if abuse == "no":
        result = "not_met"
    elif abuse in ("known", "suspected") and incident in ("death", "serious_harm"):
        result = "met"
    else:
        result = "unclear"
    return {"result": result, "reasons": reasons}


def looked_after_death(referral: dict[str, Any]) -> bool:
    """A looked-after child's death must be notified to the Secretary of State and Ofsted, whatever else."""
    return referral.get("looked_after") is True and referral.get("incident_type") == "death"
