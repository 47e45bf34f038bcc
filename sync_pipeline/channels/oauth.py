"""Access tokens from an OAuth refresh-token grant (Login with Amazon, eBay): fetched on first use, renewed a
minute before they expire, and once more when the API says one expired early."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import requests

from sync_pipeline.channels.http import ChannelAuthError, ChannelHttp


class RefreshTokenGrant:
    def __init__(
        self, http: ChannelHttp, *, url: str, endpoint: str, form: dict[str, str], header: str, scheme: str = "",
        basic_auth: tuple[str, str] | None = None, expired_status: int = 401, lifetime_s: int = 3600,
        refused: str = "the OAuth token endpoint refused the refresh token",
    ):
        self.http = http
        self.url, self.endpoint, self.form, self.basic_auth = url, endpoint, form, basic_auth
        self.header, self.scheme = header, scheme
        self.expired_status, self.lifetime_s, self.refused = expired_status, lifetime_s, refused
        self._expires = datetime.min.replace(tzinfo=timezone.utc)

    def refresh(self) -> None:
        response = self.http.request(
            "POST", self.url, endpoint=self.endpoint, data=self.form, auth=self.basic_auth, allowed=(200, 400, 401)
        )
        if response.status_code != 200:
            raise ChannelAuthError(
                self.http.config.name,
                f"{self.refused} (HTTP {response.status_code}); {self.http.auth_fix}. Nothing was written for this channel.",
            )
        try:
            body = response.json()
            token, lifetime = body["access_token"], int(body.get("expires_in", self.lifetime_s))
            if not isinstance(token, str) or not token:
                raise TypeError("access_token is not a string")
        except (ValueError, KeyError, TypeError):
            # The body is not quoted: it may hold the token, or half of one.
            raise ChannelAuthError(
                self.http.config.name,
                f"the token endpoint ({self.endpoint}) answered HTTP 200 without a readable access token; "
                f"{self.http.auth_fix}. Nothing was written for this channel.",
            ) from None
        # Redacted from here on like the configured secrets, before anything could quote it.
        self.http.add_secret(token)
        self.http.session.headers[self.header] = f"{self.scheme}{token}"
        self._expires = datetime.now(timezone.utc) + timedelta(seconds=lifetime - 60)

    def request(self, method: str, url: str, *, allowed: tuple[int, ...] = (200,), **kwargs) -> requests.Response:
        """A request with a live token; an answer saying it expired early renews it and tries once more."""
        if datetime.now(timezone.utc) >= self._expires:
            self.refresh()
        response = self.http.request(method, url, allowed=(*allowed, self.expired_status), **kwargs)
        if response.status_code == self.expired_status:
            self.refresh()
            response = self.http.request(method, url, allowed=allowed, **kwargs)
        return response
