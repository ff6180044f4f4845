"""Capability wiring for :class:`hotline.runner.Runtime`.

Each capability registers, explicitly and in one place, its AMI
subscriptions (``AMI_WIRING``: called with the runtime before AMI starts)
and its long-running components (``COMPONENT_FACTORIES``: name → factory
returning an object with ``async start()`` / ``async stop()``).
Imported once by the runtime; nothing is discovered by side effects elsewhere.
"""

from __future__ import annotations

from hotline.runner import AMI_WIRING, COMPONENT_FACTORIES

# -- meter readings (REQ-T14): the Vosk engine and the AudioSocket server, shared
# by every call as services.extras["speech"] (keypad-only without a model).
from ivr.speech_lang import create_speech_component

COMPONENT_FACTORIES["speech"] = create_speech_component

# -- CRM bridge (issue 3): the call listener (AMI) and the webhook outbox.
import hotline.runner as _runner  # noqa: E402 - the annotation below


def _crm_call_listener(runtime: _runner.Runtime) -> None:
    """The CRM's AMI listener (crm_bridge.ami_listener): call records and the
    operator card's live events."""
    from crm_bridge.ami_listener import CallListener

    listener = CallListener.from_services(runtime.services)
    listener.subscribe(runtime.ami)  # type: ignore[arg-type]
    runtime.services.extras["call_listener"] = listener  # type: ignore[union-attr]


AMI_WIRING.append(_crm_call_listener)

# -- autoinformer (issue 6): the outbound dialer. Its AMI subscriptions are made
# when it is built (before AMI starts); the component is the same object.


def _autoinformer_dialer(runtime: _runner.Runtime) -> None:
    if "dialer" in runtime.components:
        from autoinformer.dialer import build_dialer

        build_dialer(runtime)


def _dialer_component(runtime: _runner.Runtime) -> object:
    dialer = runtime.services.extras.get("dialer")  # type: ignore[union-attr]
    if dialer is None:
        raise RuntimeError("the dialer component needs the ami component")
    return dialer


AMI_WIRING.append(_autoinformer_dialer)
COMPONENT_FACTORIES["dialer"] = _dialer_component


def _autoinformer_email(runtime: _runner.Runtime) -> object:
    """E-mail autoinforming (REQ-O11): idle unless a campaign enables it."""
    from autoinformer.email import EmailSender

    return EmailSender.from_runtime(runtime)


COMPONENT_FACTORIES["email"] = _autoinformer_email


def _crm_webhook(runtime: _runner.Runtime) -> object:
    """The external CRM / billing webhook's outbox delivery (idle without webhook_url)."""
    from crm_bridge.webhook import WebhookDelivery

    return WebhookDelivery.from_runtime(runtime)


COMPONENT_FACTORIES["webhook"] = _crm_webhook
