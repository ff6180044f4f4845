"""The dialplan contract: AGI routes and channel variables, defined once.

`dialplans/*.conf` use these names; `tests/unit/test_contract.py` proves that
the dialplan and this module agree (every route the dialplan calls exists in
the route table, every ``HOTLINE_*`` variable it reads or sets is declared
here, and every route declared here is reachable from the dialplan).
"""

from __future__ import annotations

from enum import StrEnum


class Route(StrEnum):
    """FastAGI routes (``agi://host:port/<route>``) and process-AGI flow names."""

    INBOUND = "inbound"
    """Hotline main menu after the recording warning (REQ-T4, T9, T10)."""
    ANSWERING_MACHINE = "answering-machine"
    """After-hours answering machine (REQ-T3, T5, T6)."""
    METER_READINGS = "meter-readings"
    """Meter readings by voice or keypad (REQ-T14)."""
    QUEUE_CALLBACK = "queue-callback"
    """Offer of a callback after a long wait in the queue (REQ-T8)."""
    OUTBOUND_MESSAGE = "outbound-message"
    """Autoinformer message played to the callee (REQ-O1, O5, O6)."""
    SURVEY = "survey"
    """The CSI/NPS survey after an operator's call (REQ-A13, surveys/)."""
    VISITS = "visits"
    """Booking, moving or cancelling a visit to a customer office (REQ-T11, visits/)."""
    SELFTEST = "selftest"
    """Short diagnostic menu: says a number, reads digits. Used by the demo,
    the foundation tests and ``bench/fastagi.py``."""
    SELFTEST_FAIL = "selftest-fail"
    """A flow that raises: proves the fallback branch (tests only)."""
    BENCH_MENU = "bench-menu"
    """A short menu for ``bench/fastagi.py``: several AGI round trips per call."""


class Var(StrEnum):
    """Channel variables shared by the dialplan and the Python flows."""

    AGI = "HOTLINE_AGI"
    """Global: base URL of the FastAGI service, e.g. ``agi://127.0.0.1:4573``."""
    STATUS = "HOTLINE_STATUS"
    """Set by the AGI service: ``OK`` or ``FAILED`` (then the dialplan goes to
    the fallback branch)."""
    NEXT = "HOTLINE_NEXT"
    """Where the dialplan goes after a flow: one of :class:`Next`."""
    QUEUE = "HOTLINE_QUEUE"
    """Queue name when ``HOTLINE_NEXT=queue``."""
    CLASSIFICATION = "HOTLINE_CLASS"
    """Appeal classification code chosen in the menu (REQ-A4)."""
    ACCOUNT = "HOTLINE_ACCOUNT"
    """Identified account number, for the operator card."""
    VERIFIED = "HOTLINE_VERIFIED"
    """Set by the IVR's identity gate (``ivr.identity``) when the caller has
    proven the account (REQ-T9), for the later routes of the same channel:
    ``<method>:<account id>:<channel uniqueid>``; holds no digit the caller keyed."""
    APPEAL = "HOTLINE_APPEAL"
    """Registration number of the appeal of this call (REQ-A2)."""
    RECORDING = "HOTLINE_RECORDING"
    """Asterisk-side path of the whole-call recording (REQ-T4)."""
    LANGUAGE = "HOTLINE_LANG"
    """Global: prompt language (``ru``)."""
    SOUNDS = "HOTLINE_SOUNDS"
    """Global: Asterisk-side directory of the generated prompts."""
    SPOOL = "HOTLINE_SPOOL"
    """Global: Asterisk-side directory for recordings."""
    OPEN = "HOTLINE_OPEN"
    """``1`` when the hotline is in working hours (set by the inbound flow)."""
    CAMPAIGN = "HOTLINE_CAMPAIGN"
    """Outbound: campaign id."""
    CONTACT = "HOTLINE_CONTACT"
    """Outbound: contact id."""
    ATTEMPT = "HOTLINE_ATTEMPT"
    """Outbound: attempt id (our own ActionID based key)."""
    AGI_SCRIPT = "HOTLINE_AGI_SCRIPT"
    """Global: path of the process-AGI entry point (pyst2), as Asterisk sees it."""
    AUDIOSOCKET = "HOTLINE_AUDIOSOCKET"
    """Global: ``host:port`` of the AudioSocket speech server."""
    QUEUE_NAME = "HOTLINE_QUEUE_NAME"
    """Global: the default operator queue."""
    OUTBOUND_CID = "HOTLINE_OUTBOUND_CID"
    """Global: the caller ID customers see when the hotline calls them."""
    SPECIALIST_QUEUE = "HOTLINE_SPECIALIST_QUEUE"
    """Global: the specialists' queue (the second line, REQ-T10)."""
    CALLBACK_AFTER = "HOTLINE_CALLBACK_AFTER"
    """Global (overridable per call): seconds in the queue before the callback offer (REQ-T8)."""
    WARNED = "HOTLINE_WARNED"
    """``1`` once the caller has heard the recording warning in full (set by the
    inbound flow right after it, REQ-T4). ``hotline-fallback`` plays the
    warning itself on a recorded call (``HOTLINE_RECORDING`` set) where it is
    not ``1``: the service unreachable, or dead before the warning ended."""
    FALLBACK = "HOTLINE_FALLBACK"
    """Set to ``1`` when the caller went through the fallback branch."""
    AMD = "HOTLINE_AMD"
    """Outbound: answering-machine detection of the campaign: ``off``,
    ``message`` (leave the message after the beep) or ``retry``."""
    TEST_NOW = "HOTLINE_TEST_NOW"
    """TEST MODE ONLY (honoured when ``settings.test_mode``): an ISO 8601
    datetime with offset the inbound flows use as "now" for working hours,
    holidays and deadlines (e.g. set through Originate variables)."""
    TEST_TRUNK_NOW = "HOTLINE_TEST_TRUNK_NOW"
    """TEST MODE ONLY: a global (AMI Setvar) that becomes ``HOTLINE_TEST_NOW``
    of calls from the SIP trunk (``hotline-test-trunk``), whose variables a
    test cannot set on the call."""
    TEST_TRUNK_AGI = "HOTLINE_TEST_TRUNK_AGI"
    """TEST MODE ONLY: a global (AMI Setvar) that, when set, becomes the
    ``HOTLINE_AGI`` of calls from the SIP trunk: a test points them at a
    service that is unreachable, or one it kills (REQ-T4 on the fallback path)."""


class Next(StrEnum):
    """Values of ``HOTLINE_NEXT``: the dialplan branch after a flow."""

    HANGUP = "hangup"
    QUEUE = "queue"
    ANSWERING_MACHINE = "answering-machine"
    METER_READINGS = "meter-readings"
    VISITS = "visits"
    """Booking a visit to an office (visits/ renders ``hotline-visits``)."""


class UserEvent(StrEnum):
    """``UserEvent`` names the dialplan raises."""

    CALL_END = "HotlineCallEnd"
    """Every hotline call's hang-up handler (cause, ``HOTLINE_NEXT``)."""
    FALLBACK = "HotlineFallback"
    """The fallback branch ran (reason: ``AGISTATUS/HOTLINE_STATUS``; ``Warned``:
    ``HOTLINE_WARNED`` as the flow left it)."""
    FALLBACK_WARNING = "HotlineFallbackWarning"
    """The fallback branch has played the recording warning the flow had not
    (REQ-T4), right before its apology."""
    CARD = "HotlineCard"
    """Before ``Queue()``: the card's variables (``HOTLINE_ACCOUNT: …``, each
    value URI-encoded), so the call listener need not ask for them."""


class Context(StrEnum):
    """Dialplan contexts the Python side refers to."""

    INBOUND = "hotline-inbound"
    FALLBACK = "hotline-fallback"
    QUEUE = "hotline-queue"
    ANSWERING_MACHINE = "hotline-answering-machine"
    OUTBOUND = "hotline-outbound"
    SELFTEST = "hotline-selftest"
    SELFTEST_FAIL = "hotline-selftest-fail"
    BENCH_FASTAGI = "hotline-bench-fastagi"
    BENCH_PROCESS = "hotline-bench-process"
    BENCH_DIALPLAN = "hotline-bench-dialplan"
    TEST_CALLER = "hotline-test-caller"
    """Test/demo only: the Local channel half that plays the caller."""
    TEST_NETWORK = "hotline-test-network"
    """Test/bench only: the simulated telephone network of outbound calls
    (the dialled number decides how the callee behaves)."""
    TRUNK = "hotline-trunk"
    """Calls from the carrier's SIP trunk (pjsip.conf endpoint ``trunk``)."""
    OPERATORS = "hotline-operators"
    """What an operator's phone dials (pjsip.conf ``operator-template``)."""
    TRANSFER = "hotline-transfer"
    """Where a transferred caller goes (``specialists``, an endpoint)."""
    AFTER_CALL = "hotline-after-call"
    """Where a caller still on the line goes when the operator ended the call,
    if a slice renders it (surveys/: the survey); else the call ends."""
    SURVEY = "hotline-survey"
    """The survey (surveys/); ``s`` after the call, ``transfer`` when sent by
    the operator."""
    VISITS = "hotline-visits"
    """Booking a visit to a customer office (visits/)."""


STATUS_OK = "OK"
STATUS_FAILED = "FAILED"

ALL_ROUTES: frozenset[str] = frozenset(r.value for r in Route)
ALL_VARS: frozenset[str] = frozenset(v.value for v in Var)
