"""The loopback HTTP server that plays every scenario channel under /<channel-name>, the fulfilment
warehouse under /<warehouse.name>, plus /_admin.

What is shared lives here: routing by channel, the request log, and the order in which every API request
meets trouble: refused credentials (faults.expired_credentials), then an injected fault (seeded, so a
scenario misbehaves the same way each run), then the channel's credentials, then its rate limit, then the
answer. The platform modules (platforms/) supply only what differs between channels; warehouse.py is the
warehouse, which meets its own faults (warehouse.faults, its own seeded RNG) before anything else."""

from __future__ import annotations

import json
import secrets
import socket
import sys
import threading
import time
import traceback
from dataclasses import asdict
from datetime import datetime, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sync_pipeline.simulator.orders import SimOrder, SimOrderRecord, channel_rng, generate_orders, live_order
from sync_pipeline.simulator.platforms import PLATFORMS, Platform
from sync_pipeline.simulator.platforms.base import AdminError, ApiRequest, ApiResponse, Route, iso_utc
from sync_pipeline.simulator.scenario import (
    FAULT_KINDS,
    WAREHOUSE_FAULT_KINDS,
    Faults,
    Scenario,
    ScenarioError,
    WarehouseFaults,
)
from sync_pipeline.simulator.warehouse import SERVER_ERROR, Warehouse
from sync_pipeline.simulator.webhooks import WebhookSender

CREDENTIAL_FORMATS = {
    "access_token": ("shpat_", 16),
    "consumer_key": ("ck_", 20),
    "consumer_secret": ("cs_", 20),
    "refresh_token": ("Atzr|", 32),
    "client_id": ("amzn1.application-oa2-client.", 16),
    "client_secret": ("amzn1.oa2-cs.v1.", 32),
    "api_key": ("", 32),
    "webhook_secret": ("", 32),  # what signs a platform's webhooks (Shopify: the app's client secret)
}
# Where a platform's credential of a shared name looks different: (platform type, credential) -> (prefix, bytes).
PLATFORM_CREDENTIAL_FORMATS = {
    ("bigcommerce", "access_token"): ("", 16),
    ("ebay", "refresh_token"): ("v^1.1#i^1#r^1#f^0#p^3#", 48),
    ("ebay", "client_id"): ("SyncPipe-orders-PRD-", 8),
    ("ebay", "client_secret"): ("PRD-", 16),
    ("magento", "username"): ("api_", 4),  # an admin user's; its token is fetched with the password
    ("magento", "password"): ("", 16),
    ("magento", "access_token"): ("", 16),  # an integration's (Magento's are 32 lower-case letters and digits)
}
WAREHOUSE_CREDENTIAL_NAMES = ("api_key",)
WAREHOUSE_API_KEY_FORMAT = ("wh_", 16)
REDACTED_PARAMS = ("consumer_key", "consumer_secret")
INJECTED_RETRY_AFTER = "0.05"
RESET = object()  # answer by dropping the connection


class Simulator:
    """Every channel of a scenario, generated at construction (orders placed after that moment do not exist)
    and served on loopback once started."""

    def __init__(self, scenario: Scenario, credentials: dict[str, dict[str, str]] | None = None,
                 first_warehouse_numbers: tuple[int, int] = (1, 1), now: datetime | None = None, live: bool = False):
        """`first_warehouse_numbers`: the warehouse's first order and shipment numbers (see Warehouse); `now`: the
        moment the scenario is cut at (default: this one), so two simulators of one `now` serve the same data;
        `live`: orders are also placed while it runs (`place_order`), and the 3PL ships them when due by the wall
        clock (warehouse.ship_after_hours)."""
        self.scenario = scenario
        self.now = now or datetime.now(timezone.utc)
        self.credentials = _credentials(scenario, credentials or {})
        self._platforms: dict[str, Platform] = {}
        generated_by_id: dict[str, dict[str, SimOrder]] = {}
        for spec in scenario.channels:
            platform_type = PLATFORMS[spec.type]
            platform = platform_type(spec, self.credentials[spec.name], scenario)
            generated = generate_orders(
                scenario.seed, spec.name, spec.tz, scenario.start_date, scenario.days, spec.orders_per_day,
                scenario.anomalies, platform_type.market, self.now,
            )
            records = [platform.render(order) for order in generated]
            platform.store.put(records)
            generated_by_id[spec.name] = {r.external_order_id: o for r, o in zip(records, generated)}
            self._platforms[spec.name] = platform
        self.warehouse = Warehouse(scenario, self.credentials[scenario.warehouse.name], self._placed_at, self.now,
                                   first_warehouse_numbers, live=live)
        self._live_numbers = dict.fromkeys((c.name for c in scenario.channels), 0)
        for spec in scenario.channels:
            self.warehouse.add_preexisting(
                spec,
                [(r, generated_by_id[spec.name].get(r.external_order_id)) for r in self._platforms[spec.name].store.all()],
                scenario.warehouse.preexisting_orders,
                self.now,
            )
        self._faults = scenario.faults
        self._fault_lock = threading.Lock()
        self._fault_rngs = {c.name: channel_rng(scenario.seed, c.name, ":faults") for c in scenario.channels}
        self._injected_429s = dict.fromkeys(self._fault_rngs, 0)
        self._warehouse_rng = channel_rng(scenario.seed, self.warehouse.name, ":faults")
        self._log: list[dict] = []
        self._log_lock = threading.Lock()
        self.webhooks = WebhookSender(scenario.webhooks, channel_rng(scenario.seed, "webhooks", ":deliveries"))
        self._webhook_lock = threading.Lock()
        self._webhook_number = 0
        self._seq = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> Simulator:
        """Serve in a daemon thread; port 0 picks a free port (see .url)."""
        if self._server is not None:
            return self
        self._server = _Server((host, port), _Handler)
        self._server.simulator = self
        self._url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"simulator-{self._url}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None

    def wait(self) -> None:
        """Block until stopped (or interrupted)."""
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the simulator is not started; call .start() first")
        return self._url

    @property
    def warehouse_url(self) -> str:
        """<url>/<warehouse name>; its API is under /api/v1."""
        return f"{self.url}/{self.warehouse.name}"

    # --- inspection and control -----------------------------------------------------------------------
    def orders(self, channel: str) -> list[SimOrderRecord]:
        """Every order the channel serves now, oldest first."""
        return self._platform(channel).store.all()

    @property
    def requests(self) -> list[dict]:
        """Every API request so far (not /_admin): seq, time, channel, method, path, query, status, injected."""
        with self._log_lock:
            return [dict(entry) for entry in self._log]

    def listings(self, channel: str) -> list[dict]:
        """Every listing the channel keeps, with its stock (as GET /_admin/channels/<name>/listings)."""
        return self._platform(channel).listings.all()

    def tracking(self, channel: str) -> dict[str, list[dict]]:
        """Every fulfillment the channel holds, by external order id (as GET /_admin/channels/<name>/tracking)."""
        return self._platform(channel).tracking.all()

    def place_order(self, channel: str, now: datetime | None = None) -> SimOrderRecord:
        """A new order placed on the channel now (live mode), served from now on; its `created` webhook goes to a
        subscribed URL. Its placement time is the wall clock's, which the benchmarks measure from."""
        platform = self._platform(channel)
        spec = next(c for c in self.scenario.channels if c.name == channel)
        now = now or datetime.now(timezone.utc)
        with self._webhook_lock:
            number = self._live_numbers[channel]
            self._live_numbers[channel] += 1
        record = platform.render(live_order(self.scenario.seed, channel, spec.tz, self.scenario.anomalies,
                                            type(platform).market, number, now))
        platform.store.put([record])
        if channel in self.webhooks.subscriptions:
            self.emit_webhook(channel, record.external_order_id, "created", now)
        return record

    def subscribe_webhooks(self, channel: str, url: str) -> None:
        """Send the channel's order webhooks to `url` from now on (as creating the platform's subscription does)."""
        if not self._platform(channel).webhook_topics:
            raise ValueError(f"{channel} is a {self._platform(channel).type} channel, which sends no order webhooks")
        self.webhooks.subscribe(channel, url)

    def emit_webhook(self, channel: str, external_order_id: str, event: str = "created",
                     now: datetime | None = None) -> str:
        """The platform's delivery of an order event (created, updated, cancelled) for the order as it stands, sent
        to the subscribed URL as the platform sends it (scenario `webhooks`: delays, duplicates, drops, retries).
        Returns its delivery id."""
        platform = self._platform(channel)
        record = platform.store.get(external_order_id)
        if record is None:
            raise KeyError(f"{channel} has no order {external_order_id!r}")
        with self._webhook_lock:
            self._webhook_number += 1
            number = self._webhook_number
        delivery_id, headers, body = platform.webhook(record, event, number, now or datetime.now(timezone.utc))
        self.webhooks.send(channel, delivery_id, headers, body, external_order_id)
        return delivery_id

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    def set_faults(self, faults: dict) -> Faults:
        """Replace the faults block (validated like the scenario's; raises ScenarioError)."""
        parsed = Faults.from_dict(faults, "faults", list(self._platforms))
        with self._fault_lock:
            self._faults = parsed
        return parsed

    def set_warehouse_faults(self, faults: dict) -> WarehouseFaults:
        """Replace the warehouse's faults block (as POST /_admin/warehouse/faults; raises ScenarioError)."""
        return self.warehouse.set_faults(faults)

    def _placed_at(self, channel: str, external_order_id: str) -> datetime | None:
        """When a channel placed one of its orders (None: no such channel or order): the warehouse ships by it."""
        platform = self._platforms.get(channel)
        record = platform.store.get(external_order_id) if platform is not None else None
        return record.placed_at if record is not None else None

    def _platform(self, channel: str) -> Platform:
        try:
            return self._platforms[channel]
        except KeyError:
            raise KeyError(f"no channel {channel!r}; simulated: {', '.join(self._platforms)}") from None

    # --- request handling -----------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: Message, body: bytes) -> ApiResponse | object:
        url = urlsplit(target)
        path = [unquote(segment) for segment in url.path.split("/") if segment]
        query = parse_qs(url.query, keep_blank_values=True)
        if path[:1] == ["_admin"]:
            return self._admin(method, path[1:], body)
        if path[:1] == [self.warehouse.name]:
            request = ApiRequest(method, path[1:], query, headers, body, self.warehouse_url)
            entry = self._record(self.warehouse.name, method, url.path, query)
            result = self._answer_warehouse(request, entry)
            with self._log_lock:
                entry["status"] = None if result is RESET else result.status
            return result
        if not path or path[0] not in self._platforms:
            return ApiResponse(404, {
                "error": f"no channel {path[0] if path else ''!r}; simulated: {', '.join(self._platforms)} "
                         f"and the warehouse {self.warehouse.name!r}"
            })
        platform = self._platforms[path[0]]
        request = ApiRequest(method, path[1:], query, headers, body, f"{self.url}/{platform.name}")
        entry = self._record(platform.name, method, url.path, query)
        result = self._answer(platform, request, entry)
        with self._log_lock:
            entry["status"] = None if result is RESET else result.status
        return result

    def _answer(self, platform: Platform, request: ApiRequest, entry: dict) -> ApiResponse | object:
        route = platform.route(request)
        if route is None:
            return platform.not_found()
        faults = self._faults
        bucket = platform.bucket(route)
        if platform.name in faults.expired_credentials:
            return self._with_rate_headers(platform, bucket, platform.auth_failure(route))
        injected, detail = self._inject(platform.name, route, request, faults)
        with self._log_lock:
            entry["injected"] = injected
        if injected == "connection_reset":
            return RESET
        if injected == "rate_limit_429":
            response = self._with_rate_headers(platform, bucket, platform.error(429))
            if detail:
                response.headers["Retry-After"] = detail
            return response
        if injected == "server_error_5xx":
            return self._with_rate_headers(platform, bucket, platform.error(detail))
        if injected == "timeout":
            time.sleep(faults.timeout_delay_s)
        if route.authenticated and not platform.authorized(request):
            return self._with_rate_headers(platform, bucket, platform.auth_failure(route))
        if bucket is None:
            response = route.handler(request)
        else:
            reading = bucket.take()
            response = route.handler(request) if reading.allowed else platform.too_many_requests(reading)
            response.headers.update(platform.rate_headers(reading))
        # lost_reply: the request took effect (a write is stored), and its answer never arrives.
        return RESET if injected == "lost_reply" else response

    def _answer_warehouse(self, request: ApiRequest, entry: dict) -> ApiResponse | object:
        """One fault draw before anything else (so a dropped or 5xx request stores nothing), then the answer;
        timeout_after_commit stalls and drops only an order creation that was stored."""
        faults = self.warehouse.faults
        with self._fault_lock:
            injected = _draw(self._warehouse_rng, faults, WAREHOUSE_FAULT_KINDS)
            status = self._warehouse_rng.choice((500, 503)) if injected == "server_error_5xx" else None
        if injected in ("connection_reset", "server_error_5xx"):
            with self._log_lock:
                entry["injected"] = injected
            return RESET if injected == "connection_reset" else ApiResponse(status, dict(SERVER_ERROR))
        response, committed = self.warehouse.answer(request)
        if injected == "timeout_after_commit" and committed:
            with self._log_lock:
                entry["injected"] = injected
            time.sleep(faults.timeout_delay_s)
            return RESET
        return response

    @staticmethod
    def _with_rate_headers(platform: Platform, bucket, response: ApiResponse) -> ApiResponse:
        """Responses that do not count against the limit still report it, as the platforms do."""
        if bucket is not None:
            response.headers.update(platform.rate_headers(bucket.peek()))
        return response

    def _inject(self, channel: str, route: Route, request: ApiRequest, faults: Faults) -> tuple[str | None, Any]:
        """The fault this request meets, if any, with its detail (Retry-After for 429s, status for 5xx)."""
        if faults.timeout_window_hours is not None and route.window is not None:
            start, end = route.window(request)
            if start is not None:
                hours = ((end or datetime.now(timezone.utc)) - start).total_seconds() / 3600
                if hours > faults.timeout_window_hours:
                    return "timeout", None
        with self._fault_lock:
            rng = self._fault_rngs[channel]
            kind = _draw(rng, faults, FAULT_KINDS)
            if kind is None:
                return None, None
            if kind == "rate_limit_429":
                # Alternate so clients meet both 429 variants: with Retry-After and without.
                self._injected_429s[channel] += 1
                return kind, INJECTED_RETRY_AFTER if self._injected_429s[channel] % 2 else None
            if kind == "server_error_5xx":
                return kind, rng.choice((500, 503))
            return kind, None

    def _record(self, channel: str, method: str, path: str, query: dict[str, list[str]]) -> dict:
        shown = {k: ["***" if k in REDACTED_PARAMS else v for v in values] for k, values in query.items()}
        with self._log_lock:
            self._seq += 1
            entry = {
                "seq": self._seq,
                "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "channel": channel,
                "method": method,
                "path": path,
                "query": {k: v[0] if len(v) == 1 else v for k, v in shown.items()},
                "status": None,
                "injected": None,
            }
            self._log.append(entry)
        return entry

    def _admin(self, method: str, path: list[str], body: bytes) -> ApiResponse:
        if path == ["requests"] and method == "GET":
            return ApiResponse(200, self.requests)
        if path == ["requests"] and method == "DELETE":
            self.clear_requests()
            return ApiResponse(200, {"cleared": True})
        if path == ["faults"] and method == "POST":
            try:
                faults = self.set_faults(_json(body))
            except (ScenarioError, AdminError) as exc:
                return ApiResponse(400, {"error": str(exc)})
            return ApiResponse(200, {"faults": asdict(faults)})
        if path[:1] == ["warehouse"]:
            if path == ["warehouse", "faults"] and method == "POST":
                try:
                    faults = self.set_warehouse_faults(_json(body))
                except (ScenarioError, AdminError) as exc:
                    return ApiResponse(400, {"error": str(exc)})
                return ApiResponse(200, {"faults": asdict(faults)})
            response = self.warehouse.admin(method, path[1:], body)
            if response is not None:
                return response
        if len(path) == 3 and path[0] == "channels" and path[2] == "listings" and method == "GET":
            if path[1] not in self._platforms:
                return ApiResponse(404, {"error": f"no channel {path[1]!r}; simulated: {', '.join(self._platforms)}"})
            store = self._platforms[path[1]].listings
            return ApiResponse(200, {"listings": store.all(), "history": store.history()})
        if len(path) == 3 and path[0] == "channels" and path[2] == "tracking" and method == "GET":
            if path[1] not in self._platforms:
                return ApiResponse(404, {"error": f"no channel {path[1]!r}; simulated: {', '.join(self._platforms)}"})
            return ApiResponse(200, self._platforms[path[1]].tracking.all())
        if len(path) == 3 and path[0] == "channels" and path[2] == "orders":
            if path[1] not in self._platforms:
                return ApiResponse(404, {"error": f"no channel {path[1]!r}; simulated: {', '.join(self._platforms)}"})
            platform = self._platforms[path[1]]
            if method == "GET":
                return ApiResponse(200, [
                    {"external_order_id": r.external_order_id, "placed_at": iso_utc(r.placed_at), "updated_at": iso_utc(r.updated_at)}
                    for r in platform.store.all()
                ])
            if method == "POST":
                try:
                    records = platform.parse_admin(_json(body))
                except AdminError as exc:
                    return ApiResponse(400, {"error": str(exc)})
                if not records:
                    return ApiResponse(400, {"error": f"no {platform.type} order in the body"})
                platform.store.put(records)
                ids = [r.external_order_id for r in records]
                return ApiResponse(201, {"external_order_id": ids[0] if len(ids) == 1 else ids})
        return ApiResponse(404, {"error": f"no admin endpoint {method} /_admin/{'/'.join(path)}"})


def _draw(rng, faults, kinds: tuple[str, ...]) -> str | None:
    """The fault one request meets: each kind takes its share of [0, 1), the rest is none."""
    draw = rng.random()
    for kind in kinds:
        share = getattr(faults, kind)
        if draw < share:
            return kind
        draw -= share
    return None


def serve(scenario: Scenario, port: int, credentials: dict[str, dict[str, str]] | None = None, host: str = "127.0.0.1") -> None:
    """Serve in the foreground until Ctrl-C (the CLI's `simulate`)."""
    simulator = Simulator(scenario, credentials).start(host, port)
    try:
        simulator.wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise AdminError(f"the body is not JSON: {exc}") from None


def _credentials(scenario: Scenario, given: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The given credentials, with random ones (secrets.token_hex, in each platform's usual format) for any
    channel or credential not given; the warehouse's under its name (an api_key "wh_...")."""
    names = {c.name: PLATFORMS[c.type].credential_names for c in scenario.channels}
    names[scenario.warehouse.name] = WAREHOUSE_CREDENTIAL_NAMES
    types = {c.name: c.type for c in scenario.channels}
    for channel, values in given.items():
        if channel not in names:
            raise ValueError(
                f"credentials for {channel!r}, which is not a channel of the scenario "
                f"({', '.join(c.name for c in scenario.channels)}) nor its warehouse ({scenario.warehouse.name})"
            )
        if not isinstance(values, dict):
            raise ValueError(f"credentials for {channel!r} must be a mapping of credential name to value")
        owner = f"the warehouse {channel!r}" if channel == scenario.warehouse.name else f"channel {channel!r}"
        for name, value in values.items():
            if name not in names[channel]:
                raise ValueError(f"{owner} has no credential {name!r}; it uses {', '.join(names[channel])}")
            if not isinstance(value, str) or not value:
                raise ValueError(f"{owner}: credential {name!r} must be a non-empty string")
    credentials = {}
    for channel, credential_names in names.items():
        credentials[channel] = {}
        for name in credential_names:
            prefix, size = (
                WAREHOUSE_API_KEY_FORMAT if channel == scenario.warehouse.name
                else PLATFORM_CREDENTIAL_FORMATS.get((types[channel], name)) or CREDENTIAL_FORMATS[name]
            )
            credentials[channel][name] = given.get(channel, {}).get(name) or prefix + secrets.token_hex(size)
    return credentials


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    simulator: Simulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients' sessions expect
    timeout = 60  # idle keep-alive connections are closed after this
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle plus delayed ACKs add ~40 ms per response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            result = self.server.simulator.handle(self.command, self.path, self.headers, body)
        except Exception as exc:  # a simulator bug: say so instead of leaving the client hanging
            traceback.print_exc(file=sys.stderr)
            result = ApiResponse(500, {"error": f"simulator error: {exc!r}"})
        if result is RESET:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        no_content = result.status == 204  # no body, nor the headers that would announce one
        data = b"" if no_content else json.dumps(result.body, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(result.status)
            if not no_content:
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
            for name, value in result.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. its read timeout)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def log_message(self, format: str, *args) -> None:
        """Quiet: /_admin/requests is the log."""
