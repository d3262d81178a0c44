"""The seed's nine product events and the properties each must carry (ProductAnalytics in the seed).

A schema maps a property to its kind and, for enumerations, its allowed values. Events with other names are
stored as custom events without validation. Plain checks (no serializer per event): ingestion validates
thousands of events per request.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Prop:
    kind: str  # "str", "int", "number" or "bool"
    choices: tuple[str, ...] = ()
    minimum: float | None = None


SIGNUP_METHODS = ("email", "google", "github")
EXPORT_TYPES = ("pdf", "csv", "ical")
PLANS = ("starter", "professional", "enterprise")

EVENT_SCHEMAS: dict[str, dict[str, Prop]] = {
    "userSignup": {"method": Prop("str", SIGNUP_METHODS)},
    "organizationCreated": {"type": Prop("str")},
    "onboardingCompleted": {"timeToComplete": Prop("number", minimum=0)},
    "tourCreated": {"artistCount": Prop("int", minimum=0), "venueCount": Prop("int", minimum=0)},
    "aiRoutingUsed": {"scenariosGenerated": Prop("int", minimum=0), "applied": Prop("bool")},
    "collaborationUsed": {"permission": Prop("str"), "external": Prop("bool")},
    "exportGenerated": {"type": Prop("str", EXPORT_TYPES), "showId": Prop("str")},
    "subscriptionStarted": {"plan": Prop("str", PLANS)},
    "churnEvent": {"reason": Prop("str"), "tenure": Prop("number", minimum=0)},
}


def _kind_ok(kind: str, value) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):  # True is an int in Python, never a count
        return False
    if kind == "int":
        return isinstance(value, int)
    if kind == "number":
        return isinstance(value, int | float) and value == value  # not NaN
    return isinstance(value, str) and value != ""


def validate_properties(name: str, properties: dict) -> dict[str, list[str]]:
    """Field errors of a tracked event's properties ({} when valid or when the event is custom)."""
    errors: dict[str, list[str]] = {}
    for field, prop in EVENT_SCHEMAS.get(name, {}).items():
        if field not in properties:
            errors[field] = ["This property is required."]
            continue
        value = properties[field]
        if not _kind_ok(prop.kind, value):
            errors[field] = [f"Expected a {'non-empty string' if prop.kind == 'str' else prop.kind}."]
        elif prop.choices and value not in prop.choices:
            errors[field] = [f"Must be one of: {', '.join(prop.choices)}."]
        elif prop.minimum is not None and value < prop.minimum:
            errors[field] = [f"Must be at least {prop.minimum:g}."]
    return errors
