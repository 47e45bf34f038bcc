"""Order webhooks as the simulated platforms send them: each delivery goes to the channel's subscribed URL on a
thread of its own after a random delay (so deliveries arrive out of order), is retried until a 2xx (at least once),
and a scenario share of them is sent twice or never (`webhooks` in the scenario). Every attempt is recorded, so
tests count what was sent from the simulator's side."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import requests

from sync_pipeline.simulator.scenario import WebhookFaults


@dataclass
class WebhookSender:
    faults: WebhookFaults
    rng: random.Random
    subscriptions: dict[str, str] = field(default_factory=dict)  # channel -> URL
    log: list[dict] = field(default_factory=list)  # every delivery decided and every attempt made
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def subscribe(self, channel: str, url: str) -> None:
        self.subscriptions[channel] = url

    def send(self, channel: str, delivery_id: str, headers: dict[str, str], body: bytes,
             external_order_id: str | None = None) -> None:
        """Deliver (or, for the `drop` share, not): the decision and every attempt are in `log`."""
        url = self.subscriptions.get(channel)
        if url is None:
            return
        with self._lock:
            dropped = self.rng.random() < self.faults.drop
            copies = 1 if dropped else 1 + (self.rng.random() < self.faults.duplicate)
            delays = [self.rng.uniform(0, self.faults.max_delay_s) for _ in range(copies)]
            self.log.append({"channel": channel, "delivery_id": delivery_id, "external_order_id": external_order_id,
                             "dropped": dropped, "copies": copies})
        if dropped:
            return
        for delay in delays:
            thread = threading.Thread(target=self._deliver, args=(channel, delivery_id, url, headers, body, delay),
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def _deliver(self, channel: str, delivery_id: str, url: str, headers: dict[str, str], body: bytes,
                 delay: float) -> None:
        time.sleep(delay)
        for attempt in range(1, self.faults.attempts + 1):
            try:
                status = requests.post(url, data=body, headers=headers, timeout=10).status_code
            except requests.RequestException:
                status = None
            with self._lock:
                self.log.append({"channel": channel, "delivery_id": delivery_id, "attempt": attempt, "status": status})
            if status is not None and 200 <= status < 300:
                return
            time.sleep(self.faults.retry_s)

    def wait(self, timeout: float = 30.0) -> None:
        """Until every delivery started so far has been answered or given up."""
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    def decided(self, channel: str | None = None) -> list[dict]:
        """One entry per event: delivery id, its order, whether it was dropped, and how many copies were sent."""
        return [e for e in self.log if "dropped" in e and channel in (None, e["channel"])]
