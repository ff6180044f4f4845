"""The channel interface that call flows use, over any AGI transport.

A flow never writes raw AGI strings: it calls :class:`Channel` methods (play,
say, read digits, record, set variables, transfer). :class:`Channel` is a
protocol with two implementations: :class:`AgiChannel`, a real call, which runs
over FastAGI (:mod:`telephony.fastagi`) and over process AGI with pyst2
(:mod:`telephony.process_agi`), only the :class:`AgiTransport` differing; and
:class:`telephony.fakechannel.FakeChannel`, a scripted caller for tests. Every
method writes to the call journal what the caller heard or did.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Final, Protocol, cast

from telephony.contract import Next, Var
from telephony.journal import CallJournal

ALL_KEYS = "0123456789*#"
_RESULT_RE = re.compile(r"^(?P<code>\d{3})[ -](?P<rest>.*)$")
_KV_RE = re.compile(r"(\w+)=(\S*)(?:\s+\(([^)]*)\))?")


class ChannelError(Exception):
    """The AGI peer answered with an error we cannot continue from."""


class CallerHangup(Exception):
    """The caller hung up. Flows let it propagate; the server ends quietly."""


class AgiProtocolError(ChannelError):
    """The AGI peer sent something that is not an AGI response."""


@dataclass(frozen=True, slots=True)
class AgiResponse:
    code: int
    result: str
    data: str
    extras: Mapping[str, str]
    line: str

    @property
    def result_int(self) -> int:
        try:
            return int(self.result)
        except ValueError:
            return 0


def parse_response(line: str) -> AgiResponse:
    """Parse one AGI response line (``200 result=49 endpos=1234``)."""
    line = line.rstrip("\r\n")
    if line == "HANGUP":
        raise CallerHangup("HANGUP")
    m = _RESULT_RE.match(line)
    if not m:
        raise AgiProtocolError(f"not an AGI response: {line[:80]!r}")
    code = int(m.group("code"))
    rest = m.group("rest")
    if code == 511:
        raise CallerHangup(rest)
    if code != 200:
        raise ChannelError(f"AGI error {code}: {rest[:200]}")
    result, data, extras = "", "", {}
    for i, (key, value, paren) in enumerate(_KV_RE.findall(rest)):
        if i == 0 and key == "result":
            result, data = value, paren or ""
        else:
            extras[key] = value
    if not data:
        pm = re.search(r"\(([^)]*)\)", rest)
        if pm:
            data = pm.group(1)
    return AgiResponse(code, result, data, extras, line)


class AgiTransport(Protocol):
    """Sends one AGI command and returns its final response line."""

    async def command(self, command: str) -> AgiResponse: ...


@dataclass(frozen=True, slots=True)
class DigitsResult:
    digits: str | None
    """The digits entered (without the terminator), or None."""
    reason: str
    """``ok``, ``timeout`` (silence), ``invalid`` (rejected by the validator)."""
    attempts: int


@dataclass(frozen=True, slots=True)
class Recording:
    asterisk_path: str
    """Path without extension as Asterisk sees it."""
    fmt: str
    ended_by: str
    """``dtmf``, ``timeout`` (max length), ``silence``, ``hangup``."""
    dtmf: str | None = None


class PromptResolver(Protocol):
    def prompt(self, prompt_id: str) -> str: ...

    def tokens(self, tokens: Sequence[str]) -> list[str]: ...


class PlainResolver:
    """Maps prompt ids to files under one directory; tokens to word prompts.

    Used where no generated catalogue is present (unit tests, diagnostics).
    """

    def __init__(self, sounds_dir: str = "") -> None:
        self._dir = sounds_dir

    def prompt(self, prompt_id: str) -> str:
        if "/" in prompt_id and prompt_id.split("/", 1)[0] in ("digits", "letters", "beep"):
            return prompt_id
        return str(PurePosixPath(self._dir) / prompt_id) if self._dir else prompt_id

    def tokens(self, tokens: Sequence[str]) -> list[str]:
        return [self.prompt(f"words/{t}") for t in tokens]


class Channel(Protocol):
    """One call as a flow sees it: exactly what the flows (and the call
    runner, :mod:`telephony.callrunner`) use. Flows are typed against this,
    never against :class:`AgiChannel`; :class:`AgiChannel` and
    :class:`telephony.fakechannel.FakeChannel` implement it.

    Prompts are prompt ids (``menu/main``), never file names or AGI strings;
    every method journals what the caller heard or did (see :class:`AgiChannel`
    for the entries). A caller who hung up makes any method raise
    :class:`CallerHangup`."""

    @property
    def journal(self) -> CallJournal: ...

    @property
    def call_id(self) -> str: ...

    @property
    def linked_id(self) -> str: ...

    @property
    def caller_number(self) -> str | None: ...

    @property
    def route(self) -> str: ...

    @property
    def arguments(self) -> list[str]: ...

    @property
    def spool_dir(self) -> str:
        """Where :meth:`record` writes, as Asterisk sees it."""
        ...

    @property
    def hung_up(self) -> bool:
        """The caller is known to have hung up (read by the call runner)."""
        ...

    async def answer(self) -> None: ...

    async def play(self, *prompt_ids: str, escape: str = ALL_KEYS) -> str | None: ...

    async def say(
        self, what: str, value: str, tokens: Sequence[str], escape: str = ALL_KEYS
    ) -> str | None: ...

    async def say_number(self, number: int, escape: str = ALL_KEYS) -> str | None: ...

    async def say_digits(self, digits: str, escape: str = ALL_KEYS) -> str | None: ...

    async def wait_digit(self, timeout: float) -> str | None: ...

    async def read_digits(
        self,
        prompts: Sequence[str] | str,
        *,
        max_digits: int = 1,
        timeout: float = 5.0,
        inter_digit_timeout: float = 3.0,
        attempts: int = 3,
        terminator: str = "#",
        valid: Callable[[str], bool] | None = None,
        retry_prompt: str | None = "common/invalid_input",
        allow_empty_terminator: bool = False,
    ) -> DigitsResult: ...

    async def collect_digits(
        self,
        prompts: Sequence[str] = (),
        *,
        max_digits: int,
        timeout: float,
        private: bool = False,
    ) -> str:
        """``private``: the keys are a secret the caller proves something with
        (digits of an account): journalled masked (:func:`mask_keys`), never as keyed."""
        ...

    async def record(
        self,
        name: str,
        *,
        fmt: str = "wav",
        max_seconds: float = 60.0,
        silence_seconds: float = 3.0,
        beep: bool = True,
        escape: str = "#",
    ) -> Recording: ...

    async def set_var(self, name: str | Var, value: str) -> None: ...

    async def get_var(self, name: str | Var) -> str | None: ...

    async def exec(self, app: str, args: str = "", *, check_hangup: bool = True) -> int: ...

    async def next(self, where: Next, **variables: str) -> None: ...

    async def hangup(self) -> None: ...


async def read_digits_on(
    ch: Channel,
    prompts: Sequence[str] | str,
    *,
    max_digits: int = 1,
    timeout: float = 5.0,
    inter_digit_timeout: float = 3.0,
    attempts: int = 3,
    terminator: str = "#",
    valid: Callable[[str], bool] | None = None,
    retry_prompt: str | None = "common/invalid_input",
    allow_empty_terminator: bool = False,
) -> DigitsResult:
    """:meth:`Channel.read_digits` built on the channel's own :meth:`~Channel.play`,
    :meth:`~Channel.wait_digit` and :meth:`~Channel.collect_digits`: one set of
    retry and validation rules for every :class:`Channel`.

    Play ``prompts`` (interruptible) and collect up to ``max_digits``.
    Silence, or input refused by ``valid``, repeats the prompt up to
    ``attempts`` times (REQ: limited retries). ``*`` and ``#`` typed as the
    first key of a one-key menu are returned as such (repeat / back).
    """
    if isinstance(prompts, str):
        prompts = [prompts]
    # Several digits: collected inside Asterisk by Read() (the prompts,
    # barge-in and every digit up to "#"). Asterisk's AGI loop discards
    # DTMF that arrives between two AGI commands, so a WAIT FOR DIGIT per
    # digit loses keys when the machine is busy.
    in_asterisk = max_digits > 1 and terminator == "#"
    reason = "timeout"
    for attempt in range(1, attempts + 1):
        buf = ""
        if in_asterisk:
            buf = await ch.collect_digits(prompts, max_digits=max_digits, timeout=timeout)
        else:
            first = await ch.play(*prompts)
            if first is None:
                first = await ch.wait_digit(timeout)
            if first is not None:
                buf = first
                while len(buf) < max_digits and not (max_digits > 1 and buf.endswith(terminator)):
                    d = await ch.wait_digit(inter_digit_timeout)
                    if d is None:
                        break
                    buf += d
        digits = buf
        if max_digits > 1 and digits.endswith(terminator):
            digits = digits[: -len(terminator)]
            if not digits and not allow_empty_terminator:
                reason = "invalid"
                digits = ""
        if digits and (valid is None or valid(digits)):
            ch.journal.add("input", digits=digits, attempt=attempt, reason="ok")
            return DigitsResult(digits, "ok", attempt)
        if digits == "" and max_digits > 1 and buf == terminator and allow_empty_terminator:
            ch.journal.add("input", digits="", attempt=attempt, reason="ok")
            return DigitsResult("", "ok", attempt)
        reason = "timeout" if not buf else "invalid"
        ch.journal.add("input", digits=buf, attempt=attempt, reason=reason)
        if attempt < attempts and retry_prompt and reason == "invalid":
            await ch.play(retry_prompt)
    return DigitsResult(None, reason, attempts)


def mask_keys(keys: str) -> str:
    """Keys as a journal may keep them when they are a secret: every key but
    the terminating "#" becomes "x" (how many were keyed, never which)."""
    return "".join("#" if k == "#" else "x" for k in keys)


_READ_VAR = "HOTLINE_KEYS"
"""Channel variable ``Read()`` leaves the keys in (this module's own)."""
READ_SLICE: Final = 2.0
"""Longest silence (seconds) one ``Read()`` waits for a first key: a caller
in silence when the service dies reaches the fallback within it."""


def _quote(arg: str) -> str:
    if not arg or any(c in arg for c in ' "\\'):
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return arg


class ReadsDigits:
    """:meth:`Channel.read_digits` for a channel class: the shared rules of
    :func:`read_digits_on` over the class's own ``play``, ``wait_digit`` and
    ``collect_digits`` (several digits in one ``Read()``, one key with
    barge-in and ``WAIT FOR DIGIT``)."""

    async def read_digits(
        self,
        prompts: Sequence[str] | str,
        *,
        max_digits: int = 1,
        timeout: float = 5.0,
        inter_digit_timeout: float = 3.0,
        attempts: int = 3,
        terminator: str = "#",
        valid: Callable[[str], bool] | None = None,
        retry_prompt: str | None = "common/invalid_input",
        allow_empty_terminator: bool = False,
    ) -> DigitsResult:
        return await read_digits_on(
            cast(Channel, self),
            prompts,
            max_digits=max_digits,
            timeout=timeout,
            inter_digit_timeout=inter_digit_timeout,
            attempts=attempts,
            terminator=terminator,
            valid=valid,
            retry_prompt=retry_prompt,
            allow_empty_terminator=allow_empty_terminator,
        )


class AgiChannel(ReadsDigits):
    """:class:`Channel` implementation over an :class:`AgiTransport`."""

    def __init__(
        self,
        transport: AgiTransport,
        headers: Mapping[str, str],
        journal: CallJournal,
        resolver: PromptResolver | None = None,
        spool_dir: str = "/tmp",
    ) -> None:
        self._t = transport
        self.headers = dict(headers)
        self.journal = journal
        self.resolver: PromptResolver = resolver or PlainResolver()
        self.spool_dir = spool_dir
        self.hung_up = False
        self._timeouts: tuple[str, str] | None = None

    # -- identity -------------------------------------------------------
    @property
    def call_id(self) -> str:
        return self.headers.get("agi_uniqueid", "")

    @property
    def linked_id(self) -> str:
        return self.headers.get("agi_linkedid", "") or self.call_id

    @property
    def caller_number(self) -> str | None:
        num = self.headers.get("agi_callerid", "")
        return num if num and num != "unknown" else None

    @property
    def route(self) -> str:
        return self.journal.route

    @property
    def arguments(self) -> list[str]:
        """``AGI(url,arg1,arg2)`` arguments (``agi_arg_1`` …)."""
        out: list[str] = []
        i = 1
        while (v := self.headers.get(f"agi_arg_{i}")) is not None:
            out.append(v)
            i += 1
        return out

    # -- low level ------------------------------------------------------
    async def command(self, command: str) -> AgiResponse:
        try:
            return await self._t.command(command)
        except CallerHangup:
            self._mark_hangup()
            raise

    def _mark_hangup(self) -> None:
        if not self.hung_up:
            self.hung_up = True
            self.journal.add("hangup")

    def _check_hangup(self, resp: AgiResponse) -> None:
        if resp.result == "-1":
            self._mark_hangup()
            raise CallerHangup(resp.line)

    # -- the interface flows use -----------------------------------------
    async def answer(self) -> None:
        self._check_hangup(await self.command("ANSWER"))

    async def play(self, *prompt_ids: str, escape: str = ALL_KEYS) -> str | None:
        """Play prompts in order. A key in ``escape`` stops them (barge-in)
        and is returned."""
        for pid in prompt_ids:
            digit = await self._stream(self.resolver.prompt(pid), escape, journal=("prompt", pid))
            if digit:
                return digit
        return None

    async def say(
        self, what: str, value: str, tokens: Sequence[str], escape: str = ALL_KEYS
    ) -> str | None:
        """Speak a phrase built of word tokens (money, dates, numbers...).

        ``what``/``value`` are what the journal records (``money``, ``12.50``).
        """
        self.journal.add("say", what=what, value=value, text=" ".join(tokens))
        for f in self.resolver.tokens(tokens):
            digit = await self._stream(f, escape, journal=None)
            if digit:
                return digit
        return None

    async def say_number(self, number: int, escape: str = ALL_KEYS) -> str | None:
        """Asterisk's own ``SAY NUMBER`` in the channel language."""
        self.journal.add("say", what="number", value=str(number), text="")
        resp = await self.command(f"SAY NUMBER {int(number)} {_quote(escape)}")
        self._check_hangup(resp)
        return chr(resp.result_int) if resp.result_int > 0 else None

    async def say_digits(self, digits: str, escape: str = ALL_KEYS) -> str | None:
        self.journal.add("say", what="digits", value=digits, text="")
        resp = await self.command(f"SAY DIGITS {digits} {_quote(escape)}")
        self._check_hangup(resp)
        return chr(resp.result_int) if resp.result_int > 0 else None

    async def _stream(
        self, filename: str, escape: str, journal: tuple[str, str] | None
    ) -> str | None:
        if journal is not None:
            self.journal.add(journal[0], id=journal[1])
        resp = await self.command(f"STREAM FILE {_quote(filename)} {_quote(escape)}")
        self._check_hangup(resp)
        if resp.extras.get("endpos") == "0" and resp.result == "0":
            self.journal.add("error", what="missing-sound", file=filename)
        if resp.result_int > 0:
            digit = chr(resp.result_int)
            self.journal.add("dtmf", digits=digit, barge_in=True)
            return digit
        return None

    async def wait_digit(self, timeout: float) -> str | None:
        resp = await self.command(f"WAIT FOR DIGIT {int(timeout * 1000)}")
        self._check_hangup(resp)
        if resp.result_int > 0:
            digit = chr(resp.result_int)
            self.journal.add("dtmf", digits=digit)
            return digit
        return None

    async def collect_digits(
        self,
        prompts: Sequence[str] = (),
        *,
        max_digits: int,
        timeout: float,
        private: bool = False,
    ) -> str:
        """Keys up to "#" or ``max_digits``, collected inside Asterisk by one
        ``Read()`` (see :meth:`read_digits`), ``prompts`` played first (a key
        interrupts them). With no prompts it just listens: the rest of a
        number whose first key the caller already pressed. ``timeout`` is
        Asterisk's, for the first key and between keys. Returns the keys, with
        "#" appended when it ended the input; "" on silence. ``private``: the
        journal gets the keys masked (152-FZ: a proof's digits are never kept)."""
        if max_digits < 1:
            return ""
        return await self._get_data(prompts, timeout, max_digits, private=private)

    async def _get_data(
        self, prompts: Sequence[str], timeout: float, max_digits: int, *, private: bool = False
    ) -> str:
        """Keys collected inside Asterisk by the dialplan's ``Read()``: every
        prompt (a key interrupts them), then every digit up to "#". Returns
        what was keyed, with the terminator appended when "#" ended the input
        (as the per-digit loop sees it); "#" alone gives "#".

        ``Read()`` rather than AGI's GET DATA: GET DATA plays one file only,
        and a key pressed between two AGI commands is lost, so a notice
        followed by «enter the number» must be one command for a caller who
        types ahead.

        The silence before the first key is waited for in slices of at most
        :data:`READ_SLICE` seconds, each its own ``Read()`` (Asterisk's
        ``TIMEOUT(response)``; the pause between keys, ``TIMEOUT(digit)``, is
        the whole ``timeout``): an application run by AGI does not notice that
        the service went away, so a caller who waits in silence when it dies
        reaches the dialplan's fallback at the end of the slice, not of the
        whole wait (REQ-T4, issue 13). A key can be lost only if it ends in
        the few milliseconds between two slices, after seconds of silence."""
        slices = max(1, math.ceil(timeout / READ_SLICE - 1e-9))
        await self._read_timeouts(timeout / slices, timeout)
        for pid in prompts:
            self.journal.add("prompt", id=pid)
        files = "&".join(self.resolver.prompt(pid) for pid in prompts)
        status, digits = "TIMEOUT", ""
        for _ in range(slices):
            args = f"{_READ_VAR},{files},{int(max_digits)},,1,"
            self._check_hangup(await self.command(f"EXEC Read {_quote(args)}"))
            got = await self.command(f"GET FULL VARIABLE ${{READSTATUS}}|${{{_READ_VAR}}}")
            status, _, keyed = got.data.partition("|")
            if status == "HANGUP":
                self._mark_hangup()
                raise CallerHangup("hangup during Read")
            digits = "".join(c for c in keyed if c in ALL_KEYS)
            if status != "TIMEOUT" or digits:
                break
            files = ""  # the prompts were heard: listen on in silence
        if status == "SKIPPED" or (status == "OK" and len(digits) < max_digits):
            digits += "#"  # ended by "#" (alone: SKIPPED), or a pause after some keys
        if digits:
            if private:
                self.journal.add("dtmf", digits=mask_keys(digits), private=True)
            else:
                self.journal.add("dtmf", digits=digits)
        return digits

    async def _read_timeouts(self, response: float, digit: float) -> None:
        """``Read()``'s wait for the first key and between keys (set only when
        they change: two AGI round trips otherwise spent on every input)."""
        wanted = (f"{response:.3g}", f"{digit:.3g}")
        if self._timeouts == wanted:
            return
        await self.command(f"SET VARIABLE TIMEOUT(response) {wanted[0]}")
        await self.command(f"SET VARIABLE TIMEOUT(digit) {wanted[1]}")
        self._timeouts = wanted

    async def record(
        self,
        name: str,
        *,
        fmt: str = "wav",
        max_seconds: float = 60.0,
        silence_seconds: float = 3.0,
        beep: bool = True,
        escape: str = "#",
    ) -> Recording:
        """Record the caller into the spool (``RECORD FILE``)."""
        path = str(PurePosixPath(self.spool_dir) / name)
        cmd = f"RECORD FILE {_quote(path)} {fmt} {_quote(escape)} {int(max_seconds * 1000)}"
        if beep:
            cmd += " BEEP"
        if silence_seconds:
            cmd += f" s={max(1, round(silence_seconds))}"
        resp = await self.command(cmd)
        if resp.result == "-1":
            self.journal.add("record", path=path, ended_by="hangup")
            # The partial recording is kept by Asterisk: the caller's words
            # before hanging up are not lost.
            self._mark_hangup()
            raise CallerHangup(resp.line)
        ended_by = {"dtmf": "dtmf", "timeout": "timeout"}.get(resp.data, "silence")
        dtmf = chr(resp.result_int) if resp.data == "dtmf" and resp.result_int > 0 else None
        if resp.data == "hangup":
            ended_by = "hangup"
        rec = Recording(path, fmt, ended_by, dtmf)
        self.journal.add("record", path=path, ended_by=ended_by)
        if ended_by == "hangup":
            self._mark_hangup()
            raise CallerHangup("hangup during recording")
        return rec

    async def set_var(self, name: str | Var, value: str) -> None:
        name = str(name)
        self.journal.add("var", name=name, value=value)
        await self.command(f"SET VARIABLE {name} {_quote(value)}")

    async def get_var(self, name: str | Var) -> str | None:
        resp = await self.command(f"GET FULL VARIABLE ${{{name}}}")
        if resp.result == "1":
            return resp.data
        return None

    async def exec(self, app: str, args: str = "", *, check_hangup: bool = True) -> int:
        """Run a dialplan application; returns its result. ``check_hangup=False``:
        -1 is returned, not taken for a hang-up (``AudioSocket()`` ends with -1
        when its stream closes; a caller who left makes the next command
        raise :class:`CallerHangup`)."""
        resp = await self.command(f"EXEC {app} {_quote(args)}" if args else f"EXEC {app}")
        if check_hangup:
            self._check_hangup(resp)
        return resp.result_int

    async def verbose(self, message: str, level: int = 3) -> None:
        await self.command(f"VERBOSE {_quote(message)} {level}")

    async def next(self, where: Next, **variables: str) -> None:
        """Tell the dialplan where to go when the flow returns."""
        for k, v in variables.items():
            await self.set_var(k, v)
        self.journal.add("next", where=where.value)
        await self.command(f"SET VARIABLE {Var.NEXT} {where.value}")

    async def hangup(self) -> None:
        self.journal.add("next", where=Next.HANGUP.value)
        await self.command(f"SET VARIABLE {Var.NEXT} {Next.HANGUP.value}")


_AGI_CHANNEL_IS_A_CHANNEL: type[Channel] = AgiChannel
"""Checked by mypy: :class:`AgiChannel` implements :class:`Channel`."""
