"""Magento 2 / Adobe Commerce REST (`{base_url}/rest/{store_code}/V1/...`): searchCriteria filters and paging that
stops by total_count, and a bearer token that is either an admin user's (fetched, renewed) or an integration's.

Paging: a `currentPage` past the last page answers the last page again, never an empty one, so the pages are
ceil(total_count / pageSize) and no more. Orders are sorted by entity_id ascending, so a page does not shift while
new orders arrive. No rate-limit headers and no limit by default (self-hosted); max_page_size 100 keeps one answer
of full orders (every item twice: in `items` and in the shipping assignment) to a few MB, within a store's PHP
memory and time limits and under 2.4.7's default web API maximum page size (300)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import datetime

from sync_pipeline.channels.base import ChannelConnector, CsvExport, RawOrder, utc
from sync_pipeline.channels.http import ChannelAuthError, RateLimitReading
from sync_pipeline.channels.magento.mapping import MAGENTO_ORDERS
from sync_pipeline.config import MAGENTO_CREDENTIALS, ChannelConfig

TOKEN_LIFETIME_S = 4 * 3600  # oauth/access_token_lifetime/admin, Magento's default
RENEW_AFTER_S = TOKEN_LIFETIME_S - 10 * 60  # renewed 10 minutes before the store would refuse it
NOT_AUTHORIZED = "isn't authorized"  # "The consumer isn't authorized to access %resources."
ADMIN_HINT = (
    "check the admin user whose username and password are in {env} (System > Permissions > All Users: active, not "
    "locked, the password current) and that its role's Role Resources include Sales (orders, ship), Catalog "
    "(products) and Stores > Inventory (sources, source items)"
)
INTEGRATION_HINT = (
    "check the integration whose access token is in {env} (System > Extensions > Integrations: active, with the "
    "Sales, Catalog and Inventory resources; reauthorize it for a new token)"
)
BEARER_FIX = (
    "Magento accepts an integration's access token as a bearer token only when Stores > Configuration > Services > "
    "OAuth > Consumer Settings > \"Allow OAuth Access Tokens to be used as standalone Bearer tokens\" is Yes "
    "(oauth/consumer/enable_integration_as_bearer, Magento 2.4.4+): set it to Yes, or sign in as an admin user "
    "instead (options.auth: admin with credentials username and password in data/channels.yaml)"
)


def magento_time(value: datetime) -> str:
    """A filter value as Magento stores times: UTC, `YYYY-MM-DD HH:MM:SS`, no offset."""
    return utc(value).strftime("%Y-%m-%d %H:%M:%S")


def search_criteria(filters: list[tuple[str, str, str]], *, page_size: int | None = None, page: int | None = None,
                    sort: str | None = None) -> dict[str, str | int]:
    """searchCriteria query parameters: each (field, condition, value) its own filter group, so they AND."""
    params: dict[str, str | int] = {}
    for group, (field, condition, value) in enumerate(filters):
        prefix = f"searchCriteria[filter_groups][{group}][filters][0]"
        params.update({f"{prefix}[field]": field, f"{prefix}[value]": value, f"{prefix}[condition_type]": condition})
    if sort:
        params.update({"searchCriteria[sortOrders][0][field]": sort, "searchCriteria[sortOrders][0][direction]": "ASC"})
    if page_size is not None:
        params["searchCriteria[pageSize]"] = page_size
    if page is not None:
        params["searchCriteria[currentPage]"] = page
    return params


def filled(error: dict) -> str:
    """A Magento error's message with its %placeholders filled in: named (a dict) or numbered (a list)."""
    message, parameters = str(error.get("message", "")), error.get("parameters")
    if isinstance(parameters, dict):
        for key, value in parameters.items():
            message = message.replace(f"%{key}", str(value))
    elif isinstance(parameters, list):
        for number, value in enumerate(parameters, start=1):
            message = message.replace(f"%{number}", str(value))
    return message


def auth_mode(config: ChannelConfig) -> str:
    return str(config.options.get("auth", "admin"))


class MagentoConnector(ChannelConnector):
    type = "magento"
    credential_names = MAGENTO_CREDENTIALS["admin"]
    reauthorize_hint = ADMIN_HINT
    csv_export = CsvExport(order_id="Order Id", placed_at="Purchase Date")
    mapping = MAGENTO_ORDERS
    max_page_size = 100
    clock = staticmethod(time.monotonic)  # when the admin token was issued and is due for renewal

    def __init__(self, config: ChannelConfig, *args, **kwargs):
        # The sign-in the channel chose decides which credentials are read and which fix an auth error names.
        self.auth = auth_mode(config)
        self.credential_names = MAGENTO_CREDENTIALS[self.auth]
        self.reauthorize_hint = ADMIN_HINT if self.auth == "admin" else INTEGRATION_HINT
        super().__init__(config, *args, **kwargs)

    @property
    def api_url(self) -> str:
        """`{base_url}/rest/{store_code}/V1`, which every path hangs from (store code option, default `default`)."""
        return f"{self.config.base_url}/rest/{self.config.options.get('store_code', 'default')}/V1"

    def authenticate(self, session, secrets) -> None:
        session.headers["Accept"] = "application/json"
        self._secrets = secrets
        self._issued: float | None = None
        if self.auth == "integration":
            session.headers["Authorization"] = f"Bearer {secrets['access_token']}"

    def read_rate_limit(self, headers) -> RateLimitReading | None:
        return None  # Magento sends no rate-limit headers and limits nothing by default

    def _env(self) -> str:
        return ", ".join(self.config.credentials[name] for name in self.credential_names)

    def _sign_in(self) -> None:
        """`POST integration/admin/token` {username, password} answers the token as a bare JSON string."""
        response = self.http.request(
            "POST", f"{self.api_url}/integration/admin/token", endpoint="V1/integration/admin/token",
            json={"username": self._secrets["username"], "password": self._secrets["password"]}, allowed=(200, 401),
        )
        token = None
        if response.status_code == 200:
            try:
                token = response.json()
            except ValueError:
                pass  # not JSON: refused below without quoting it (it may hold half a token)
        if not isinstance(token, str) or not token:
            said = self.said(response) if response.status_code == 401 else "the answer is not a token (a JSON string)"
            raise ChannelAuthError(self.config.name, (
                f"Magento's admin token endpoint refused the admin user (HTTP {response.status_code}: {said}); "
                f"{ADMIN_HINT.format(env=self._env())}. Nothing was written for this channel."
            ))
        self.http.add_secret(token)  # redacted from here on, before anything could quote it
        self.http.session.headers["Authorization"] = f"Bearer {token}"
        self._issued = self.clock()

    def said(self, response) -> str:
        """Magento's error text with its %placeholders filled in (redacted)."""
        try:
            body = response.json()
        except ValueError:
            return self.http.redact(response.text[:200])
        if not isinstance(body, dict):
            return self.http.redact(str(body)[:200])
        return self.http.redact(filled(body))

    def request(self, method: str, path: str, *, endpoint: str, allowed: tuple[int, ...] = (200,), **kwargs):
        """One call under `api_url` with a live token. An admin token is renewed before it is due and once when the
        store refuses one it issued earlier (revoked, or the store's lifetime is shorter); an integration token
        refused as a bearer is the configuration error BEARER_FIX describes. A 401 the caller allows (the
        tracking push's ACL refusal) comes back to it once a renewal has not helped."""
        url = f"{self.api_url}{path}"
        renewed = False
        if self.auth == "admin" and (self._issued is None or self.clock() - self._issued >= RENEW_AFTER_S):
            self._sign_in()
            renewed = True
        response = self.http.request(method, url, endpoint=endpoint, allowed=(*allowed, 401), **kwargs)
        if response.status_code == 401 and self.auth == "admin" and not renewed:
            self._sign_in()
            response = self.http.request(method, url, endpoint=endpoint, allowed=(*allowed, 401), **kwargs)
        if response.status_code != 401 or 401 in allowed:
            return response
        said = self.said(response)
        if self.auth == "integration" and NOT_AUTHORIZED in said:
            raise ChannelAuthError(self.config.name, (
                f"Magento refused the integration's access token in {self._env()} on {endpoint} (HTTP 401: {said}). "
                f"{BEARER_FIX}; if it is already Yes, {INTEGRATION_HINT.format(env=self._env())}. Nothing was "
                "written for this channel."
            ))
        raise ChannelAuthError(self.config.name, (
            f"Magento refused the token on {endpoint} (HTTP 401: {said}); {self.http.auth_fix}. Nothing was written "
            "for this channel."
        ))

    def search(self, path: str, endpoint: str, filters: list[tuple[str, str, str]], page_size: int,
               sort: str | None = None) -> Iterator[list[dict]]:
        """A searchCriteria list a page at a time, ceil(total_count / page_size) pages (past the last, Magento
        repeats it); always one page, so an empty list is one call."""
        page, last = 1, 1
        while page <= last:
            response = self.request("GET", path, endpoint=endpoint, params=search_criteria(
                filters, page_size=page_size, page=page, sort=sort))
            body = response.json()
            yield body.get("items") or []
            last = math.ceil(int(body.get("total_count") or 0) / page_size)
            page += 1

    @staticmethod
    def _placed(placed_from: datetime, placed_to: datetime) -> list[tuple[str, str, str]]:
        """Orders created in [placed_from, placed_to), every status: the list's filters, and its count's."""
        return [("created_at", "gteq", magento_time(placed_from)), ("created_at", "lt", magento_time(placed_to))]

    def pages(self, placed_from, placed_to, updated_since) -> Iterator[list[RawOrder]]:
        filters = self._placed(placed_from, placed_to)
        if updated_since is not None:
            filters.append(("updated_at", "gteq", magento_time(updated_since)))
        for orders in self.search("/orders", "V1/orders", filters, self.page_size, sort="entity_id"):
            self.log.pages += 1
            yield [self.raw_order(str(order["entity_id"]), order) for order in orders]

    def count_orders(self, start: datetime, end: datetime) -> int:
        """The list's total_count with the list's filters, for one order's page."""
        response = self.request("GET", "/orders", endpoint="V1/orders",
                                params=search_criteria(self._placed(start, end), page_size=1, page=1))
        return int(response.json()["total_count"])

    def fetch_order(self, external_order_id: str) -> RawOrder | None:
        response = self.request("GET", f"/orders/{external_order_id}", endpoint="V1/orders/{id}", allowed=(200, 404))
        if response.status_code == 404:
            return None
        order = response.json()
        return self.raw_order(str(order["entity_id"]), order)
