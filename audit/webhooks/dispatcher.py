"""The webhook dispatcher: claims due outbox rows, POSTs them signed, records each result.

It runs off the event path: in a daemon thread of the worker (``start``) or in the foreground
(``riskwatch alerts run``). Its only contact with the stream is the outbox rows the batch
transactions leave behind, so a slow or dead receiver never slows event processing. Everything it
knows is in the store: a restarted dispatcher picks up where the last one stopped.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy.engine import Engine

from audit.webhooks import outbox, ssrf
from audit.webhooks.payloads import render
from audit.webhooks.retry import RetryPolicy, Verdict, classify
from audit.webhooks.signing import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from audit.webhooks.spec import SubscriptionError

log = logging.getLogger(__name__)
USER_AGENT = "riskwatch-webhooks/1"
#: at most this much of a response body is read (and thrown away: bodies are never kept)
MAX_RESPONSE_BYTES = 64 * 1024
# httpx logs each request's full URL at INFO; a Slack-style URL is itself the credential.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    #: the deadline of one whole attempt: resolve-check, connect, send and read together
    timeout_s: float = 5.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    poll_s: float = 1.0
    concurrency: int = 4
    lease_s: float = 60.0
    batch: int = 100
    #: non-public networks deliveries may reach anyway (RISKWATCH_WEBHOOK_ALLOW_CIDRS)
    allow_cidrs: tuple[ssrf.IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings) -> DispatcherConfig:  # type: ignore[no-untyped-def]
        return cls(
            timeout_s=settings.webhook_timeout_s,
            retry=RetryPolicy(
                settings.webhook_max_attempts,
                settings.webhook_backoff_base_s,
                settings.webhook_backoff_max_s,
            ),
            poll_s=settings.webhook_poll_s,
            concurrency=settings.webhook_concurrency,
            lease_s=settings.webhook_lease_s,
            allow_cidrs=ssrf.parse_allow_cidrs(settings.webhook_allow_cidrs),
        )


@dataclass(slots=True)
class Tally:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    lost_lease: int = 0

    @property
    def attempts(self) -> int:
        return self.delivered + self.retried + self.dead + self.lost_lease

    def add(self, other: Tally) -> None:
        self.delivered += other.delivered
        self.retried += other.retried
        self.dead += other.dead
        self.lost_lease += other.lost_lease


@dataclass(frozen=True, slots=True)
class Attempt:
    status_code: int | None
    error: str | None
    retry_after_s: float | None = None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


class _Watchdog:
    """Ends an attempt at its deadline: it learns the attempt's socket from httpcore's trace
    hook and shuts it down when the timer fires, so a receiver that drips its answer a byte at a
    time (each within the read timeout) cannot hold a delivery thread past the deadline."""

    def __init__(self) -> None:
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def trace(self, name: str, info: dict[str, object]) -> None:
        if name.endswith("connect_tcp.complete"):
            stream = info.get("return_value")
            sock = getattr(stream, "get_extra_info", lambda _: None)("socket")
            if isinstance(sock, socket.socket):
                with self._lock:
                    self._sockets.append(sock)
                    if self.fired:
                        _shutdown(sock)

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _host(url: str) -> str:
    # Logged instead of the URL: incoming-webhook URLs (Slack's) carry their credential in the path.
    return urlsplit(url).hostname or "?"


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        config: DispatcherConfig | None = None,
        *,
        client: httpx.Client | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.on_failure = on_failure  # e.g. a metrics counter of failed attempts
        self.config = config or DispatcherConfig()
        self.owner = f"dispatcher-{uuid.uuid4().hex[:12]}"
        # No connection is kept alive: each attempt connects to the address it just checked,
        # and a TLS connection set up for one name is never reused for another on the same IP.
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(self.config.timeout_s),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_keepalive_connections=0),
            trust_env=False,
        )
        self.rng = rng or random.Random()
        self.clock = clock
        self.totals = Tally()
        self._pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="rw-webhook")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- one delivery ---------------------------------------------------------------------------

    def _post(self, item: outbox.Claimed, body: bytes) -> Attempt:
        """One attempt under one deadline (``timeout_s``): resolve and check the host, connect
        to the checked address, send, read at most MAX_RESPONSE_BYTES of the answer. Only the
        status code is kept; the response body is never stored or logged."""
        deadline = time.monotonic() + self.config.timeout_s
        try:
            target = ssrf.check_url(item.url, self.config.allow_cidrs)
        except SubscriptionError as exc:
            return Attempt(None, str(exc)[:300])
        headers = {
            "Content-Type": "application/json",
            "Host": target.host_header,
            SIGNATURE_HEADER: sign(item.secret, body, int(self.clock())),
            DELIVERY_HEADER: item.delivery_id,
            "X-Riskwatch-Attempt": str(item.attempts + 1),
        }
        watchdog = _Watchdog()
        remaining = max(deadline - time.monotonic(), 0.001)
        timer = threading.Timer(remaining, watchdog.fire)
        timer.daemon = True
        timer.start()
        try:
            request = self.client.build_request(
                "POST",
                target.pinned_url(),
                content=body,
                headers=headers,
                timeout=httpx.Timeout(remaining),
                extensions={"sni_hostname": target.sni_hostname, "trace": watchdog.trace},
            )
            response = self.client.send(request, stream=True)
            try:
                read = 0
                for chunk in response.iter_raw():
                    read += len(chunk)
                    if read >= MAX_RESPONSE_BYTES or watchdog.fired:
                        break
            finally:
                response.close()
        except (httpx.HTTPError, OSError) as exc:
            if watchdog.fired or isinstance(exc, httpx.TimeoutException):
                return Attempt(None, f"timed out after {self.config.timeout_s:g}s")
            return Attempt(None, f"{type(exc).__name__}: {str(exc)[:300]}")
        finally:
            timer.cancel()
        if watchdog.fired:
            return Attempt(None, f"timed out after {self.config.timeout_s:g}s")
        if 200 <= response.status_code < 300:
            return Attempt(response.status_code, None)
        return Attempt(response.status_code, f"HTTP {response.status_code}", _retry_after(response))

    def deliver(self, item: outbox.Claimed) -> Tally:
        """Send one claimed delivery and record the outcome."""
        body = render(
            item.format,
            item.finding,
            delivery_id=item.delivery_id,
            subscription_id=item.subscription_id,
            incident=item.incident,
        )
        attempt = self._post(item, body)
        verdict = classify(attempt.status_code)  # no response at all: retry
        now = datetime.fromtimestamp(self.clock(), UTC)
        number = item.attempts + 1
        tally = Tally()
        if verdict is Verdict.DELIVERED:
            recorded = outbox.mark_delivered(
                self.engine,
                item.delivery_id,
                self.owner,
                status_code=attempt.status_code or 0,
                now=now,
            )
            tally.delivered += int(recorded)
        else:
            if self.on_failure is not None:
                self.on_failure()
            error = attempt.error or "failed"
            retry_at = None
            if verdict is Verdict.PERMANENT:
                error += " (permanent: not retried)"
            elif not self.config.retry.exhausted(number):
                retry_at = now + timedelta(
                    seconds=self.config.retry.delay(number, self.rng, attempt.retry_after_s)
                )
            recorded = outbox.mark_failed(
                self.engine,
                item.delivery_id,
                self.owner,
                error=error,
                status_code=attempt.status_code,
                retry_at=retry_at,
            )
            if recorded and retry_at is None:
                tally.dead += 1
                log.warning(
                    "webhook delivery %s to subscription %d (%s) is dead after %d attempt(s): %s",
                    item.delivery_id,
                    item.subscription_id,
                    _host(item.url),
                    number,
                    error[:200],
                )
            elif recorded:
                tally.retried += 1
                log.info(
                    "webhook delivery %s to %s failed (attempt %d): %s; next at %s",
                    item.delivery_id,
                    _host(item.url),
                    number,
                    error[:200],
                    retry_at.isoformat() if retry_at else "-",
                )
        if not recorded:
            tally.lost_lease += 1
            log.warning(
                "webhook delivery %s: lease lost before its result was recorded; "
                "it may be sent again",
                item.delivery_id,
            )
        return tally

    # --- loops -----------------------------------------------------------------------------------

    def run_once(self) -> Tally:
        """Claim one batch of due deliveries and send them; returns what happened."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        claimed = outbox.claim(
            self.engine, self.owner, now=now, lease_s=self.config.lease_s, limit=self.config.batch
        )
        tally = Tally()
        for result in self._pool.map(self.deliver, claimed):
            tally.add(result)
        self.totals.add(tally)
        return tally

    def drain(self, *, max_rounds: int = 10_000) -> Tally:
        """Send until nothing is due now (later retries are left for later)."""
        total = Tally()
        for _ in range(max_rounds):
            tally = self.run_once()
            total.add(tally)
            if tally.attempts == 0:
                break
        return total

    def run_forever(self, stop: threading.Event | None = None) -> None:
        stop = stop or self._stop
        delay = self.config.poll_s
        while not stop.is_set():
            try:
                busy = self.run_once().attempts > 0
                delay = self.config.poll_s
            except Exception as exc:  # the database is away: wait and try again, never exit
                log.warning(
                    "webhook dispatcher: %s: %s (retrying in %.1fs)",
                    type(exc).__name__,
                    str(exc)[:300],
                    delay,
                )
                busy = False
                delay = min(delay * 2, 30.0)
            if not busy:
                stop.wait(delay)

    def start(self) -> Dispatcher:
        """Run in a daemon thread until ``stop``."""
        self._thread = threading.Thread(
            target=self.run_forever, name="rw-webhook-dispatcher", daemon=True
        )
        self._thread.start()
        log.info("webhook dispatcher started (%s)", self.owner)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()
