"""Request bodies of the command endpoints, with the limits the API enforces and examples for /docs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue

from tracker.store.envelope import FUTURE_SKEW, implausible


def _clean(value: str) -> str:
    # NUL cannot be stored in PostgreSQL text, and lone surrogates cannot be encoded: refuse both as 422.
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode") from None
    if _BIDI_CONTROLS.intersection(value):
        # Explicit direction overrides make shown text differ from stored text (Trojan Source); RTL scripts
        # display correctly without them.
        raise ValueError("text must not contain bidirectional override or isolate characters")
    return value


_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


# What _clean refuses, for the schema: NUL and the bidirectional overrides and isolates (lone surrogates,
# also refused, are not expressible in a JSON Schema pattern).
CLEAN_TEXT = r"^[^\x00\u202a-\u202e\u2066-\u2069]*$"


class _SchemaPattern:
    """Adds a `pattern` to a field's JSON Schema only; the validator alongside it does the checking."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        found = handler(schema)
        found.setdefault("pattern", self.pattern)
        return found


def text(max_length: int, min_length: int = 0) -> Any:
    return Annotated[str, StringConstraints(max_length=max_length, min_length=min_length), AfterValidator(_clean),
                     _SchemaPattern(CLEAN_TEXT)]


def _has_letters(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Note = text(2000)
Label = text(200)
Statement = Annotated[text(2000, 1), AfterValidator(_has_letters)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")]
Kind = Literal["claim", "prediction", "prescription"]
Stance = Literal["supports", "contradicts", "context"]
Url = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://[^\s/$.?#][^\s]*$"), AfterValidator(_clean)]


MAX_OFFSET = 100_000_000  # character offsets into a source text; far beyond any article


class Body(BaseModel):
    """Strict: JSON types as the schema says (no "true" for true, no "5" for 5), except dates and times,
    which JSON can only carry as text: those are parsed from their ISO 8601 strings before validation."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _times_from_text(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        parsed = dict(data)
        for name, adapter in _time_fields(cls).items():
            if isinstance(parsed.get(name), str):
                try:
                    parsed[name] = adapter.validate_python(parsed[name])
                except ValidationError:
                    pass  # left as text: strict validation reports the field
        return parsed

    @model_validator(mode="after")
    def _plausible_times(self) -> Body:
        # Every time accepted is one the store writes fixed width and reads back (tracker/store/envelope.py):
        # nothing before 1900; a publication time at most a day ahead (clock skew). Deadlines may be far ahead.
        for name in _time_fields(type(self)):
            value = getattr(self, name)
            if value is None:
                continue
            moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day, tzinfo=UTC)
            reason = implausible(moment, future=FUTURE_SKEW if name in PUBLISHED_FIELDS else None)
            if reason:
                raise ValueError(f"{name}: {reason}")
        return self


PUBLISHED_FIELDS = frozenset({"published_at"})  # times something happened, so never much later than now


@cache
def _time_fields(model: type[BaseModel]) -> dict[str, TypeAdapter[Any]]:
    """The fields of `model` whose type includes a date or datetime, each with a lax parser of its type."""
    found = {}
    for name, field in model.model_fields.items():
        if {field.annotation, *get_args(field.annotation)} & {date, datetime}:
            found[name] = TypeAdapter(field.annotation)
    return found


class StatedConfidence(Body):
    phrase: Label | None = Field(None, examples=["effectively nil"])
    probability: float = Field(ge=0.0, le=1.0, examples=[0.98],
                               description="probability of the proposition as we state it")
    negated: bool = Field(False, description="the article's hedge rated the opposite statement")
    scale: Label | None = None


class ProfileExample(Body):
    text: Note = Field(examples=["Drones hit a substation near Kharkiv days into the pause"])
    stance: Literal["supports", "contradicts", "context"] = "supports"


class MatchProfile(Body):
    terms: list[Label] = Field(default_factory=list, max_length=200, examples=[["energy infrastructure"]])
    entities: dict[Label, list[Label]] = Field(default_factory=dict, examples=[{"Russia": ["Kremlin", "Moscow"]}])
    exclusions: list[Label] = Field(default_factory=list, max_length=200)
    stance_cues: dict[Label, list[Label]] | None = None
    examples: list[ProfileExample] | None = Field(
        None, max_length=50, description="written examples of evidence, with the stance each takes")
    broader: list[Identifier] | None = Field(
        None, max_length=20, examples=[["moscow-undertakings-untrustworthy"]],
        description="ids of broader propositions this one is an instance of: an item likely for this one lifts them")


class Locator(Body):
    paragraph: int = Field(ge=1, le=100_000)
    start: int = Field(ge=0, le=MAX_OFFSET)
    end: int = Field(ge=0, le=MAX_OFFSET)
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class RegisterBody(Body):
    id: Identifier | None = Field(None, description="lower-case slug; made from the statement when absent",
                                  examples=["ceasefire-not-respected"])
    kind: Kind = Field(examples=["prediction"])
    statement: Statement = Field(examples=["Russia will not fully respect a ceasefire in Ukraine during 2025."])
    source_id: Label | None = Field(None, examples=["fp-2025-03-19-bristow"])
    actors: list[Label] = Field(default_factory=list, max_length=50, examples=[["Russia", "Ukraine"]])
    topics: list[Label] = Field(default_factory=list, max_length=50, examples=[["ceasefire"]])
    locator: Locator | None = None
    stated_confidence: StatedConfidence | None = None
    condition: Note | None = Field(None, examples=["if a ceasefire is agreed"])
    resolve_by: date | None = Field(None, examples=["2025-12-31"])
    resolution_criteria: Note | None = None
    match_profile: MatchProfile | None = None


class AmendBody(Body):
    """Only the fields present are changed."""

    statement: Statement | None = None
    kind: Kind | None = None
    actors: list[Label] | None = Field(None, max_length=50)
    topics: list[Label] | None = Field(None, max_length=50)
    condition: Note | None = None
    resolve_by: date | None = None
    resolution_criteria: Note | None = None
    match_profile: MatchProfile | None = None
    stated_confidence: StatedConfidence | None = None
    reason: Note = Field("", examples=["narrowed the horizon to the 30-day pause"])

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"resolve_by": "2025-04-17", "reason": "the pause was announced for 30 days"}]})


class ResolveBody(Body):
    outcome: Literal["confirmed", "refuted", "annulled"] = Field(examples=["confirmed"])
    note: Note = Field("", examples=["strikes on substations reported by several wires"])
    evidence_ids: list[Label] = Field(default_factory=list, max_length=50,
                                      description="confirmed evidence that decided it")


class ReasonBody(Body):
    reason: Note = Field("", examples=["duplicate of another proposition"])


class ConfirmBody(Body):
    stance: Stance = Field(examples=["supports"])
    note: Note = Field("", examples=["the report names the strikes and the dates"])


class RejectBody(Body):
    reason: Note = Field("", examples=["about a different country"])


class WindowBody(Body):
    """The proposition's evidence window, replaced whole: a missing or null end is open; both null clear it."""

    not_before: date | None = Field(None, description="first publication day (UTC) whose items are suggested",
                                    examples=["2025-03-19"])
    not_after: date | None = Field(None, description="last publication day (UTC) whose items are suggested",
                                   examples=["2025-06-30"])
    reason: Note = Field("", examples=["only the 30-day pause matters"])


class BulkRejectBody(Body):
    """A part of the review queue to reject at once: at least one narrowing field, or `all: true`."""

    proposition_id: Label | None = Field(None, examples=["energy-moratorium-breached"])
    feed: Label | None = Field(None, description="the evidence's feed id", examples=["wire"])
    max_score: float | None = Field(None, allow_inf_nan=False, description="scores at or below this",
                                    examples=[0.5])
    published_after: datetime | None = Field(None, description="evidence published at or after this time (UTC)")
    published_before: datetime | None = Field(None, description="evidence published before this time (UTC)")
    state: Literal["suggested"] = Field("suggested", description="only suggestions can be rejected")
    reason: Note = Field("", examples=["sports desk noise"])
    all: bool = Field(False, description="needed to reject the whole queue (no narrowing field)")
    dry_run: bool = Field(False, description="list what would be rejected and write nothing")


class EvidenceBody(Body):
    url: Url = Field(examples=["https://news.example/2025/03/25/strikes-on-substations"])
    title: Statement = Field(examples=["Strikes hit substations despite the energy pause"])
    published_at: datetime = Field(examples=["2025-03-25T08:00:00Z"])
    summary: Note = ""
    stance: Stance = Field(examples=["supports"])
    note: Note = ""


class FeedBody(Body):
    name: Annotated[text(200, 1), AfterValidator(_has_letters)] = Field(examples=["Kyiv Independent"])
    url: Url = Field(examples=["https://kyivindependent.com/feed/"])
    interval_minutes: int = Field(60, ge=1, le=10080)
    tags: list[Label] = Field(default_factory=list, max_length=20)


class UserBody(Body):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")] = Field(examples=["ana"])
    role: Literal["reader", "editor", "auditor", "admin"] = Field(examples=["editor"])
