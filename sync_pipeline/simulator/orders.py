"""Platform-neutral order generation. Each channel's orders come from one RNG seeded with
sha256("<seed>:<channel>") (never Python's salted hash()), so a scenario always yields the same orders;
the platform modules only render them into their own JSON."""

from __future__ import annotations

import hashlib
import random
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sync_pipeline.simulator.scenario import MAX_ORDERS_PER_DAY, SEQ_EPOCH, Anomalies

NEAR_MIDNIGHT = timedelta(minutes=15)
# Exchange rates from the catalogue's USD prices, and minor units (JPY has none).
CURRENCY_RATES = {"USD": "1", "CAD": "1.36", "EUR": "0.92", "GBP": "0.79", "JPY": "150", "ZAR": "18.5"}
CURRENCY_DECIMALS = {"JPY": 0}
CURRENCY_COUNTRIES = {"USD": ["US"], "CAD": ["CA"], "GBP": ["GB"], "EUR": ["DE", "FR", "NL", "IE"], "JPY": ["JP"], "ZAR": ["ZA"]}
TAX_RATES = {"US": "0.0725", "CA": "0.13", "GB": "0.20", "DE": "0.19", "FR": "0.20", "NL": "0.21", "IE": "0.23", "JP": "0.10", "ZA": "0.15"}
SHIPPING_PRICES = {"free": "0", "economy": "3.99", "standard": "5.99", "express": "14.99", "overnight": "24.99"}
# The shipping speed of the unmapped_ship_method anomaly (not among the drawn ones above).
SAME_DAY = "same_day"
SAME_DAY_PRICE = "19.99"

PRODUCTS = [
    ("Organic Cotton T-Shirt", "24.00", 180), ("Merino Wool Beanie", "29.00", 90),
    ("Stainless Steel Water Bottle", "19.50", 350), ("Bamboo Cutting Board", "34.00", 900),
    ("Ceramic Pour-Over Coffee Set", "48.00", 1200), ("Wireless Earbuds", "79.00", 60),
    ("Leather Card Wallet", "39.00", 70), ("Yoga Mat", "45.00", 1800), ("Scented Soy Candle", "18.00", 400),
    ("Canvas Tote Bag", "15.00", 200), ("LED Desk Lamp", "54.00", 1100), ("Trail Running Socks (3-pack)", "21.00", 150),
    ("Rooibos Tea Tin", "9.50", 120), ("Hardcover Notebook A5", "14.00", 300), ("Phone Case", "25.00", 50),
    ("Cast Iron Skillet", "42.00", 2500),
]
VARIANTS = ["Small", "Medium", "Large", "Black", "White", "Forest Green", "Navy", "One Size"]
CATALOGUE_SIZE = 12

FIRST_NAMES = ["James", "Mary", "Sipho", "Thandi", "Oliver", "Amelia", "Liam", "Emma", "Noah", "Olivia", "Pieter",
               "Anika", "Lerato", "Tom", "Sarah", "David", "Grace", "Daniel", "Chloe", "Ethan"]
LAST_NAMES = ["Smith", "Johnson", "Nkosi", "van der Merwe", "Brown", "Taylor", "Williams", "O'Connor", "Jones",
              "Naidoo", "Wilson", "Davies", "Evans", "Botha", "Miller", "Clarke", "Dlamini", "Patel", "Walker", "Khumalo"]

# (address1, address2, city, province, province_code, postcode, country, country_code)
ADDRESSES = {
    "US": [("969 Market St", "", "San Francisco", "California", "CA", "94103", "United States", "US"),
           ("350 5th Ave", "Suite 2100", "New York", "New York", "NY", "10118", "United States", "US"),
           ("233 S Wacker Dr", "Floor 12", "Chicago", "Illinois", "IL", "60606", "United States", "US"),
           ("2201 Westlake Ave", "", "Seattle", "Washington", "WA", "98121-2778", "United States", "US"),
           ("500 Boylston St", "", "Boston", "Massachusetts", "MA", "02116", "United States", "US")],
    "CA": [("290 Bremner Blvd", "", "Toronto", "Ontario", "ON", "M5V 3L9", "Canada", "CA"),
           ("1000 Rue Sherbrooke O", "Bureau 400", "Montréal", "Quebec", "QC", "H3A 3G4", "Canada", "CA")],
    "GB": [("221B Baker Street", "", "London", "Greater London", "", "NW1 6XE", "United Kingdom", "GB"),
           ("1 Princes Street", "", "Edinburgh", "City of Edinburgh", "", "EH2 2EQ", "United Kingdom", "GB"),
           ("45 Deansgate", "Flat 3", "Manchester", "Greater Manchester", "", "M3 2AY", "United Kingdom", "GB")],
    "DE": [("Friedrichstraße 43", "", "Berlin", "Berlin", "BE", "10117", "Germany", "DE")],
    "FR": [("12 Rue de Rivoli", "", "Paris", "Île-de-France", "IDF", "75004", "France", "FR")],
    "NL": [("Damrak 1", "", "Amsterdam", "Noord-Holland", "NH", "1012 LG", "Netherlands", "NL")],
    "IE": [("15 Grafton Street", "", "Dublin", "Dublin", "D", "D02 VR66", "Ireland", "IE")],
    "JP": [("1-2-3 Roppongi", "", "Minato-ku", "Tokyo", "JP-13", "106-0032", "Japan", "JP")],
    "ZA": [("12 Long Street", "", "Cape Town", "Western Cape", "WC", "8001", "South Africa", "ZA"),
           ("100 Main Road", "Unit 5", "Johannesburg", "Gauteng", "GP", "2001", "South Africa", "ZA")],
}
# Non-Latin and otherwise awkward customers: (first, last, address or None = a home-country address).
UNUSUAL_CUSTOMERS = [
    ("伟", "王", ("南京东路100号", "", "上海市", "上海", "SH", "200001", "China", "CN")),
    ("花子", "佐藤", ("六本木1-2-3", "", "港区", "東京都", "JP-13", "106-0032", "Japan", "JP")),
    ("Иван", "Петров", ("ул. Тверская, д. 7", "кв. 12", "Москва", "Москва", "MOW", "125009", "Russia", "RU")),
    ("Ελένη", "Παπαδοπούλου", ("Οδός Ερμού 15", "", "Αθήνα", "Αττική", "I", "105 63", "Greece", "GR")),
    ("محمد", "العلي", ("شارع الشيخ زايد", "برج 3", "دبي", "دبي", "DU", "00000", "United Arab Emirates", "AE")),
    ("José", "Núñez", ("Calle de Alcalá 12", "3º izq.", "Madrid", "Comunidad de Madrid", "M", "28014", "Spain", "ES")),
    ("Zoë", "Brontë-Łukasiewicz", None),
    ("Ólafur", "Þórsson", ("Laugavegur 26", "", "Reykjavík", "Höfuðborgarsvæðið", "1", "101", "Iceland", "IS")),
    ("Mia ✨", "Chen 🌸", None),
]
PHONE_FORMATS = {
    "US": ["+1 415-555-0{n:03d}", "(415) 555-0{n:03d}"], "CA": ["+1 416-555-0{n:03d}"],
    "GB": ["+44 7700 900{n:03d}", "07700 900{n:03d}"], "ZA": ["+27 82 555 0{n:03d}", "082 555 0{n:03d}"],
    "JP": ["+81 3-5555-0{n:03d}"], "DE": ["+49 30 5555 0{n:03d}"], "FR": ["+33 1 55 55 0{n:03d}"],
    "NL": ["+31 20 555 0{n:03d}"], "IE": ["+353 1 555 0{n:03d}"], "CN": ["+86 21 5555 0{n:03d}"],
    "RU": ["+7 495 555-0{n:03d}"], "GR": ["+30 21 0555 0{n:03d}"], "AE": ["+971 4 555 0{n:03d}"],
    "ES": ["+34 91 555 0{n:03d}"], "IS": ["+354 555 0{n:03d}"],
}


# The anomalies drawn per order from their own RNG (never the day's), in this order. The first six make an
# order the normalize gate must quarantine; the others pass normalization but must not reach the warehouse.
ORDER_ANOMALIES = (
    "unmapped_status", "missing_customer", "malformed_address", "unknown_country", "invalid_amount", "invalid_date",
    "unknown_sku", "sku_case_mismatch", "duplicate_sku", "unmapped_ship_method", "po_box", "bad_postal_code",
)
ADDRESS_ANOMALIES = ("unknown_country", "po_box", "malformed_address", "bad_postal_code")  # need a ship-to
SKU_ANOMALIES = ("unknown_sku", "sku_case_mismatch", "duplicate_sku")  # each takes a line of its own
# Product.number offsets of a catalogue product's twin (duplicate_sku) and discontinued predecessor (unknown_sku):
# catalogue numbers are 1..499, so their platform ids never meet a catalogue product's or each other's.
TWIN_NUMBER_OFFSET = 500
DISCONTINUED_NUMBER_OFFSET = 1000
TWIN_UID_OFFSET = 0x5EED_0000_0001
DISCONTINUED_UID_OFFSET = 0xD15C_0000_0001
BAD_POSTAL_CODES = {"US": "ABCDE", "GB": "12345", "CA": "1234", "ZA": "ABC"}
BAD_POSTAL_CODE = "???"
MISSING_CUSTOMER = ("", "", "", None)


def channel_rng(seed: int, channel: str, purpose: str = "") -> random.Random:
    """A stable RNG per channel (and purpose), independent of PYTHONHASHSEED."""
    digest = hashlib.sha256(f"{seed}:{channel}{purpose}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass(frozen=True)
class Market:
    """What differs between platforms before rendering: the currencies their buyers pay in."""

    currencies: dict[str, float]
    # ORDER_ANOMALIES the platform cannot show (e.g. a ship-to anomaly where the platform ships to its own DC):
    # never applied to its orders.
    inapplicable: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Product:
    sku: str
    number: int
    title: str
    variant: str
    base_price: Decimal  # USD
    grams: int
    uid: int  # seeds platform ids (ASIN, TSIN, product ids)


@dataclass(frozen=True)
class Line:
    product: Product
    quantity: int
    unit_price: Decimal  # in the order's currency

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    email: str
    phone: str | None

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def blank(self) -> bool:
        """No name, e-mail or phone at all (the missing_customer anomaly)."""
        return not (self.first_name or self.last_name or self.email or self.phone)


@dataclass(frozen=True)
class Address:
    address1: str
    address2: str
    city: str
    province: str
    province_code: str
    postcode: str
    country: str
    country_code: str


@dataclass(frozen=True)
class SimOrder:
    """One order before any platform renders it. `status` is open, shipped or cancelled; `changed_at` is when
    it was shipped or cancelled (None when open) and `updated_at` that time, or `placed_at` when open."""

    seq: int  # unique per channel, increasing with placed_at
    uid: int  # seeds the platform's own random ids
    placed_at: datetime
    updated_at: datetime
    changed_at: datetime | None
    status: str
    paid: bool
    fba: bool
    currency: str
    customer: Person
    billing: Address
    ship_to: Address | None  # None: the order has no shipping address (anomaly)
    lines: tuple[Line, ...]
    shipping: str  # a SHIPPING_PRICES key, or SAME_DAY (unmapped_ship_method)
    shipping_price: Decimal
    tax_rate: Decimal
    # The ORDER_ANOMALIES applied to this order. Most are already in the fields above (a blank customer, an odd
    # ship-to, an odd line product, SAME_DAY shipping); the renderers read the rest from here: unmapped_status,
    # invalid_amount, invalid_date.
    anomalies: frozenset[str] = field(default_factory=frozenset)
    # silent_status_changes (S42): the status ("cancelled" or "shipped") the channel gives this open order later
    # without moving its modification time; None for every other order. Rendering ignores it: see later_version.
    silent_change: str | None = None

    def has(self, anomaly: str) -> bool:
        return anomaly in self.anomalies

    @property
    def decimals(self) -> int:
        return CURRENCY_DECIMALS.get(self.currency, 2)

    def money(self, amount: Decimal) -> str:
        return str(amount.quantize(Decimal(1).scaleb(-self.decimals), rounding=ROUND_HALF_UP))

    @property
    def subtotal(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal(0))

    def line_tax(self, line: Line) -> Decimal:
        return (line.total * self.tax_rate).quantize(Decimal(1).scaleb(-self.decimals), rounding=ROUND_HALF_UP)

    @property
    def tax(self) -> Decimal:
        return sum((self.line_tax(line) for line in self.lines), Decimal(0))

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.shipping_price + self.tax

    @property
    def quantity(self) -> int:
        return sum(line.quantity for line in self.lines)


def generate_orders(
    seed: int, channel: str, tz: ZoneInfo, start: date, days: int, per_day: int,
    anomalies: Anomalies, market: Market, now: datetime,
) -> list[SimOrder]:
    """Every order of the scenario's days placed by `now`, oldest first, as it stands at `now`.

    Each UTC day has its own RNG (sha256 of seed, channel and date) and its own block of sequence numbers, so a
    day's orders and ids are the same whatever window the scenario covers and whenever it runs. Days are drawn
    whole and then cut at `now`; a status change due after `now` has not happened yet."""
    products = catalogue(seed, channel)
    order_anomalies = any(getattr(anomalies, name) > 0 for name in ORDER_ANOMALIES)
    orders = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        rng = channel_rng(seed, channel, f":{day.isoformat()}")
        day_start = datetime.combine(day, time(), tzinfo=timezone.utc)
        drafts = sorted((_draft(rng, tz, day_start, anomalies, market, products) for _ in range(per_day)),
                        key=lambda d: d.placed_at)
        if order_anomalies:  # drawn apart from the day's RNG, so orders without them stay byte-identical
            drafts = [_with_anomalies(d, seed, channel, anomalies, market, products) for d in drafts]
        if anomalies.repeat_orders > 0:
            drafts = _with_repeats(drafts, seed, channel, anomalies.repeat_orders)
        if anomalies.silent_status_changes > 0:
            drafts = [_with_silent_change(d, seed, channel, anomalies.silent_status_changes) for d in drafts]
        first_seq = (day - SEQ_EPOCH).days * MAX_ORDERS_PER_DAY
        for index, draft in enumerate(drafts):
            if draft.placed_at > now:
                break
            if draft.changed_at is not None and draft.changed_at > now:
                # Not shipped or cancelled yet. (Clamping the change to `now` would give every run a new version.)
                draft = replace(draft, status="open", changed_at=None)
            orders.append(replace(draft, seq=first_seq + index, updated_at=draft.changed_at or draft.placed_at))
    return orders


LIVE_SEQ_OFFSET = MAX_ORDERS_PER_DAY // 2  # live orders take the upper half of their day's block of sequence numbers


def live_order(seed: int, channel: str, tz: ZoneInfo, anomalies: Anomalies, market: Market, number: int,
               now: datetime) -> SimOrder:
    """The `number`th order placed live on the channel (live mode), placed at `now`: drawn as the scenario's orders
    are (its own RNG, the same every run), open and paid, its ids in the upper half of today's block."""
    if number >= MAX_ORDERS_PER_DAY - LIVE_SEQ_OFFSET:
        raise ValueError(f"at most {MAX_ORDERS_PER_DAY - LIVE_SEQ_OFFSET} live orders per channel and day")
    products = catalogue(seed, channel)
    rng = channel_rng(seed, channel, f":live:{now.date().isoformat()}:{number}")
    draft = _draft(rng, tz, datetime.combine(now.date(), time(), tzinfo=timezone.utc), anomalies, market, products)
    if any(getattr(anomalies, name) > 0 for name in ORDER_ANOMALIES):
        draft = _with_anomalies(draft, seed, channel, anomalies, market, products)
    seq = (now.date() - SEQ_EPOCH).days * MAX_ORDERS_PER_DAY + LIVE_SEQ_OFFSET + number
    return replace(draft, seq=seq, placed_at=now, updated_at=now, changed_at=None, status="open", paid=True, fba=False)


def later_version(order: SimOrder, at: datetime) -> SimOrder:
    """A silent_status_changes order as the channel holds it after its change at `at`: cancelled or shipped (and
    then paid), with `updated_at` left where it was, as a platform that does not bump it writes the change."""
    assert order.silent_change is not None, "only a silent_status_changes order changes later"
    return replace(order, status=order.silent_change, changed_at=at, paid=order.paid or order.silent_change == "shipped")


def _with_repeats(drafts: list[SimOrder], seed: int, channel: str, share: float) -> list[SimOrder]:
    """repeat_orders: an order drawn (its own RNG, seeded by its uid) is ordered again by the same customer: the
    next order of the day takes its customer, addresses, currency, lines, shipping and tax, keeping its own time,
    ids, status and payment. Orders with a data anomaly are neither repeated nor repeats."""
    drafts = list(drafts)
    for index in range(len(drafts) - 1):
        source, follower = drafts[index], drafts[index + 1]
        if source.anomalies or follower.anomalies:
            continue
        if channel_rng(seed, channel, f":anomalies:{source.uid}:repeat_orders").random() < share:
            drafts[index + 1] = replace(
                follower, customer=source.customer, billing=source.billing, ship_to=source.ship_to,
                currency=source.currency, lines=source.lines, shipping=source.shipping,
                shipping_price=source.shipping_price, tax_rate=source.tax_rate,
            )
    return drafts


def _with_silent_change(order: SimOrder, seed: int, channel: str, share: float) -> SimOrder:
    """silent_status_changes: an order that stays open (no change drawn, no unmapped status) drawn from its own
    RNG is cancelled or shipped later (half each), when Platform.apply_silent_changes() says so."""
    if order.status != "open" or order.changed_at is not None or order.has("unmapped_status"):
        return order
    rng = channel_rng(seed, channel, f":anomalies:{order.uid}:silent_status_changes")
    if rng.random() >= share:
        return order
    return replace(order, silent_change=rng.choice(["cancelled", "shipped"]))


def catalogue(seed: int, channel: str) -> list[Product]:
    """The products a channel sells; the warehouse stocks every channel's catalogue."""
    return _catalogue(channel_rng(seed, channel))


def listed_products(seed: int, spec) -> list[Product]:
    """What a channel lists (and the warehouse stocks for it): the products its orders draw from, then
    `spec.extra_listings` more (SKU-L0000001, ...), so an inventory sync can meet a real shop's catalogue."""
    products = catalogue(seed, spec.name)
    rng = channel_rng(seed, spec.name, ":extra-listings")
    for index in range(1, spec.extra_listings + 1):
        title, price, grams = PRODUCTS[index % len(PRODUCTS)]
        products.append(Product(f"SKU-L{index:07d}", 1000 + index, title, VARIANTS[index % len(VARIANTS)],
                                Decimal(price), grams, rng.getrandbits(48)))
    return products


def _catalogue(rng: random.Random) -> list[Product]:
    numbers = sorted(rng.sample(range(1, 500), CATALOGUE_SIZE))
    products = []
    for number, (title, price, grams) in zip(numbers, rng.sample(PRODUCTS, CATALOGUE_SIZE)):
        products.append(
            Product(f"SKU-{number:05d}", number, title, rng.choice(VARIANTS), Decimal(price), grams, rng.getrandbits(48))
        )
    return products


def _placed_at(rng: random.Random, tz: ZoneInfo, day_start: datetime, near_midnight: bool) -> datetime:
    day_end = day_start + timedelta(days=1)
    if not near_midnight:
        return day_start + timedelta(seconds=rng.randrange(86400))
    # Local midnights whose +-15 minutes touch this UTC day; the order lands inside both.
    local_day = day_start.astimezone(tz).date()
    midnights = []
    for shift in (-1, 0, 1, 2):
        midnight = datetime.combine(local_day + timedelta(days=shift), time(), tzinfo=tz).astimezone(timezone.utc)
        if midnight - NEAR_MIDNIGHT < day_end and midnight + NEAR_MIDNIGHT > day_start:
            midnights.append(midnight)
    midnight = rng.choice(midnights)
    low = max(midnight - NEAR_MIDNIGHT, day_start)
    high = min(midnight + NEAR_MIDNIGHT, day_end - timedelta(seconds=1))
    return low + timedelta(seconds=rng.randint(0, int((high - low).total_seconds())))


def _draft(
    rng: random.Random, tz: ZoneInfo, day_start: datetime, anomalies: Anomalies, market: Market, catalogue: list[Product]
) -> SimOrder:
    placed = _placed_at(rng, tz, day_start, rng.random() < anomalies.near_midnight)
    cancelled = rng.random() < anomalies.cancellations
    shipped = not cancelled and rng.random() < anomalies.status_changes
    paid = shipped or rng.random() >= anomalies.unpaid
    changed_at = None
    if cancelled:
        changed_at = placed + timedelta(seconds=rng.randint(1800, 24 * 3600))
    elif shipped:
        changed_at = placed + timedelta(seconds=rng.randint(2 * 3600, 48 * 3600))
    currency = rng.choices(list(market.currencies), weights=list(market.currencies.values()))[0]
    home = rng.choice(CURRENCY_COUNTRIES[currency])
    customer, address = _customer(rng, home, rng.random() < anomalies.non_latin_names, rng.random() < anomalies.missing_phone)
    ship_to = None if rng.random() < anomalies.missing_shipping_address else address
    rate = Decimal(CURRENCY_RATES[currency])
    places = Decimal(1).scaleb(-CURRENCY_DECIMALS.get(currency, 2))
    products = rng.sample(catalogue, rng.choices([1, 2, 3, 4], weights=[55, 25, 12, 8])[0])
    lines = tuple(
        Line(p, rng.choices([1, 2, 3], weights=[75, 18, 7])[0], (p.base_price * rate).quantize(places, ROUND_HALF_UP))
        for p in products
    )
    shipping = rng.choices(list(SHIPPING_PRICES), weights=[20, 15, 40, 17, 8])[0]
    country = (ship_to or address).country_code
    return SimOrder(
        seq=-1,
        uid=rng.getrandbits(64),
        placed_at=placed,
        updated_at=placed,
        changed_at=changed_at,
        status="cancelled" if cancelled else "shipped" if shipped else "open",
        paid=paid,
        fba=rng.random() < anomalies.fba,
        currency=currency,
        customer=customer,
        billing=address,
        ship_to=ship_to,
        lines=lines,
        shipping=shipping,
        shipping_price=(Decimal(SHIPPING_PRICES[shipping]) * rate).quantize(places, ROUND_HALF_UP),
        tax_rate=Decimal(TAX_RATES.get(country, "0")),
    )


def _with_anomalies(
    order: SimOrder, seed: int, channel: str, anomalies: Anomalies, market: Market, catalogue: list[Product]
) -> SimOrder:
    """The order with the ORDER_ANOMALIES it draws. Each anomaly has its own RNG seeded from the order's uid and
    its name, so whether an order carries one (and how) depends neither on the day's draws nor on the other
    anomalies' shares. Anomalies the platform cannot show, and ship-to anomalies of an order without a ship-to,
    are left out."""
    rngs = {name: channel_rng(seed, channel, f":anomalies:{order.uid}:{name}") for name in ORDER_ANOMALIES}
    drawn = [
        name for name in ORDER_ANOMALIES
        if rngs[name].random() < getattr(anomalies, name) and name not in market.inapplicable
        and not (name in ADDRESS_ANOMALIES and order.ship_to is None)
    ]
    if not drawn:
        return order
    changes: dict = {"anomalies": frozenset(drawn)}
    if "unmapped_status" in drawn:  # stuck in a state the status map lacks: nothing was shipped or paid
        changes.update(status="open", changed_at=None, paid=False)
    if "missing_customer" in drawn:  # a broken guest checkout: no name, e-mail or phone, the address lines kept
        changes["customer"] = Person(*MISSING_CUSTOMER)
    ship_to = order.ship_to
    if "unknown_country" in drawn:  # a UK address written with "UK", the common mistake for GB
        ship_to = replace(Address(*rngs["unknown_country"].choice(ADDRESSES["GB"])), country="UK", country_code="UK")
    if "po_box" in drawn:
        rng = rngs["po_box"]
        ship_to = replace(ship_to, address1=f"{rng.choice(['PO Box', 'P.O. Box'])} {rng.randint(100, 9999)}", address2="")
    if "malformed_address" in drawn:
        ship_to = replace(ship_to, address1=_malformed(ship_to.address1, rngs["malformed_address"]))
    if "bad_postal_code" in drawn:
        ship_to = replace(ship_to, postcode=BAD_POSTAL_CODES.get(ship_to.country_code, BAD_POSTAL_CODE))
    if ship_to is not order.ship_to:
        changes["ship_to"] = ship_to
    lines = list(order.lines)
    untouched = list(range(len(lines)))
    sold = {line.product.sku for line in lines}  # catalogue SKUs on the order
    for name in (n for n in SKU_ANOMALIES if n in drawn):
        rng = rngs[name]
        if untouched:  # each SKU anomaly takes a line of its own; when none is left, one more line is added
            index = untouched.pop(rng.randrange(len(untouched)))
        else:
            product = rng.choice([p for p in catalogue if p.sku not in sold] or catalogue)
            sold.add(product.sku)
            lines.append(Line(product, 1, _price(product, order.currency)))
            index = len(lines) - 1
        product = lines[index].product
        lines[index] = replace(lines[index], product={
            "unknown_sku": discontinued, "sku_case_mismatch": lambda p: replace(p, sku=p.sku.lower()), "duplicate_sku": twin,
        }[name](product))
    if lines != list(order.lines):
        changes["lines"] = tuple(lines)
    if "unmapped_ship_method" in drawn:
        changes.update(shipping=SAME_DAY, shipping_price=_price_in(Decimal(SAME_DAY_PRICE), order.currency))
    return replace(order, **changes)


def _malformed(line: str, rng: random.Random) -> str:
    """An address line as a broken encoding leaves it: its first non-ASCII character turned into U+FFFD, or
    (an ASCII line) one of its spaces into a control character."""
    for index, char in enumerate(line):
        if not char.isascii():
            return line[:index] + "\ufffd" + line[index + 1 :]
    spaces = [index for index, char in enumerate(line) if char == " "]
    if not spaces:
        return line + "\ufffd"
    index = spaces[-1]
    return line[:index] + rng.choice(["\x0b", "\x1a", "\x08"]) + line[index + 1 :]


def twin(product: Product) -> Product:
    """Another listing of the channel that carries `product`'s SKU (duplicate_sku): its own ids and title, the
    same for every order it appears in."""
    return replace(product, number=product.number + TWIN_NUMBER_OFFSET, title=f"{product.title} Gift Edition",
                   uid=(product.uid + TWIN_UID_OFFSET) % 2**48)


def discontinued(product: Product) -> Product:
    """The discontinued predecessor of `product` (unknown_sku): SKU DISC-<its number>, which no catalogue has."""
    return replace(product, sku=f"DISC-{product.number:05d}", number=product.number + DISCONTINUED_NUMBER_OFFSET,
                   uid=(product.uid + DISCONTINUED_UID_OFFSET) % 2**48)


def _price_in(usd: Decimal, currency: str) -> Decimal:
    places = Decimal(1).scaleb(-CURRENCY_DECIMALS.get(currency, 2))
    return (usd * Decimal(CURRENCY_RATES[currency])).quantize(places, ROUND_HALF_UP)


def _price(product: Product, currency: str) -> Decimal:
    return _price_in(product.base_price, currency)


def _customer(rng: random.Random, home: str, unusual: bool, missing_phone: bool) -> tuple[Person, Address]:
    if unusual:
        first, last, parts = rng.choice(UNUSUAL_CUSTOMERS)
        if parts is None:
            home_parts = rng.choice(ADDRESSES[home])
            parts = (home_parts[0], "Apt 4 🏠" if "✨" in first else home_parts[1], *home_parts[2:])
    else:
        first, last, parts = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), rng.choice(ADDRESSES[home])
    address = Address(*parts)
    number = rng.randint(100, 999)
    local = _ascii(f"{first}.{last}").lower().replace(" ", "").strip(".")
    email = f"{local if len(local) > 3 else 'customer'}{number}@example.{rng.choice(['com', 'org', 'net'])}"
    phone = None if missing_phone else rng.choice(PHONE_FORMATS[address.country_code]).format(n=number)
    return Person(first, last, email, phone), address


def _ascii(text: str) -> str:
    """Accents folded away and anything else non-ASCII dropped (for e-mail local parts)."""
    folded = unicodedata.normalize("NFKD", text.replace("Þ", "Th").replace("Ł", "L").replace("ł", "l"))
    return "".join(c for c in folded if c.isascii() and (c.isalnum() or c == "."))


@dataclass(frozen=True)
class SimOrderRecord:
    """An order as a channel serves it: `payload` verbatim (a Takealot order is its list of Sale rows), the
    two UTC times the list filters use, and Amazon's OrderItems, which are served by their own endpoint."""

    external_order_id: str
    placed_at: datetime
    updated_at: datetime
    payload: dict | list
    order_items: list | None = None
