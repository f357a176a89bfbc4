#!/usr/bin/env python3
"""Stripe-compatible test server for Caravan's billing integration tests.

This module owns an in-memory stand-in for the slice of the Stripe API that
Caravan's metering code uses: customers, invoices, invoice items, webhook
endpoints and events. Clients talk to it over HTTP exactly as they would talk
to https://api.stripe.com, and it follows Stripe's documented conventions:

* secret-key authentication (Bearer, or HTTP Basic with the key as user name);
* form-encoded parameters in bracket notation, JSON responses with a
  ``Request-Id`` header, and 400s naming the offending ``param``;
* ``Idempotency-Key`` on POST: the first response is saved per API key and
  replayed byte-for-byte;
* webhook events signed with ``Stripe-Signature: t=...,v1=...`` and delivered
  in order per endpoint, with retries.

A few controls that Stripe does not have live under ``/_test/`` so that tests
can fail payments, resend events, inspect received requests and reset state.
State is kept in memory only. Standard library only.

Usage: python3 server.py --port 0 [--host 127.0.0.1] [--api-key sk_test_...]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import hashlib
import hmac
import json
import queue
import re
import secrets
import signal
import sys
import threading
import time
import traceback
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from string import ascii_letters, ascii_uppercase, digits
from typing import Any, Callable

API_VERSION = "2026-09-30.endive"
MAX_IDEMPOTENCY_KEY_LENGTH = 255
IDEMPOTENCY_KEY_TTL_SECONDS = 24 * 60 * 60
WEBHOOK_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)
WEBHOOK_TIMEOUT_SECONDS = 5.0
EMBEDDED_LINES_LIMIT = 10
DEFAULT_CURRENCY = "usd"


# --- Errors -------------------------------------------------------------------


class ApiError(Exception):
    """A Stripe error response: ``{"error": {"type", "message", "code"?, "param"?}}``."""

    def __init__(self, status, message, *, type="invalid_request_error", code=None, param=None,
                 headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict:
        error = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}


class InvalidParams(ApiError):
    """The parameters failed validation before the endpoint ran (never saved for replay)."""

    def __init__(self, message, param=None, code=None):
        super().__init__(400, message, param=param, code=code)


def resource_missing(kind, object_id, param="id", status=404) -> ApiError:
    return ApiError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def missing_param(name) -> InvalidParams:
    return InvalidParams(f"Missing required param: {name}.", name)


# --- Form decoding (Stripe bracket notation) ----------------------------------

_BRACKET_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def split_param_name(name: str) -> list[str]:
    """``"a[b][]"`` -> ``["a", "b", ""]``; an empty segment means "append to a list"."""
    head, bracket, rest = name.partition("[")
    if not bracket:
        return [name]
    segments = _BRACKET_SEGMENT.findall("[" + rest)
    if not head or "".join(f"[{s}]" for s in segments) != "[" + rest:
        raise InvalidParams(f"Invalid parameter name: {name}", name)
    if "" in segments[:-1]:
        raise InvalidParams(f"Invalid array parameter: {name} (use indexes, e.g. a[0][b])", name)
    return [head, *segments]


def assign_param(params: dict, name: str, value: str) -> None:
    segments = split_param_name(name)
    node = params
    for segment in segments[:-2]:
        child = node.setdefault(segment, {})
        if not isinstance(child, dict):
            raise InvalidParams(f"Conflicting values for parameter: {name}", name)
        node = child
    parent_key, last = (segments[-2], segments[-1]) if len(segments) > 1 else (None, segments[0])
    if parent_key is not None:
        container = node.setdefault(parent_key, [] if last == "" else {})
        if isinstance(container, str) or isinstance(container, list) != (last == ""):
            raise InvalidParams(f"Conflicting values for parameter: {name}", name)
        if last == "":
            container.append(value)
            return
        node = container
    if isinstance(node.get(last), (dict, list)):
        raise InvalidParams(f"Conflicting values for parameter: {name}", name)
    node[last] = value


def parse_form(text: str) -> dict:
    """Decode ``application/x-www-form-urlencoded`` text into nested dicts and lists.

    ``a[b][c]=x`` nests dicts and ``a[]=x`` appends to a list. Indexed arrays
    (``a[0][b]=x``) stay dicts keyed by index here; ``list_of`` reads them as
    arrays wherever the endpoint expects one, as Stripe does.
    """
    params: dict = {}
    for name, value in urllib.parse.parse_qsl(text, keep_blank_values=True):
        assign_param(params, name, value)
    return params


# --- Parameter validation -----------------------------------------------------
# A validator takes (raw value, param name) and returns the clean value. An
# empty string means "unset" in Stripe's API, so scalar validators return None.

Validator = Callable[[Any, str], Any]


def _scalar(value, name) -> str:
    if not isinstance(value, str):
        raise InvalidParams(f"Invalid {name}: expected a string, not a hash or array", name)
    return value


def string(value, name):
    return _scalar(value, name) or None


def integer(value, name):
    text = _scalar(value, name)
    if text == "":
        return None
    if not re.fullmatch(r"-?[0-9]+", text):
        raise InvalidParams(f"Invalid integer: {text}", name)
    return int(text)


def boolean(value, name):
    text = _scalar(value, name)
    if text == "":
        return None
    if text not in ("true", "false"):
        raise InvalidParams(f"Invalid boolean: {text}", name)
    return text == "true"


def currency(value, name):
    text = _scalar(value, name).lower()
    if text == "":
        return None
    if not re.fullmatch(r"[a-z]{3}", text):
        raise InvalidParams(f"Invalid currency: {text}", name)
    return text


def decimal_string(value, name):
    text = _scalar(value, name)
    if text == "":
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or -number.as_tuple().exponent > 12:
        raise InvalidParams(f"Invalid decimal: {text} (at most 12 decimal places)", name)
    return number


def one_of(*choices) -> Validator:
    def check(value, name):
        text = _scalar(value, name)
        if text == "":
            return None
        if text not in choices:
            raise InvalidParams(f"Invalid {name}: must be one of {', '.join(choices)}", name)
        return text
    return check


def list_of(item: Validator) -> Validator:
    def check(value, name):
        if value == "":
            return []
        if isinstance(value, dict) and all(key.isdigit() for key in value):
            value = [value[key] for key in sorted(value, key=int)]
        if not isinstance(value, list):
            raise InvalidParams(f"Invalid array: {name}", name)
        return [item(element, f"{name}[{index}]") for index, element in enumerate(value)]
    return check


def hash_of(fields: dict, required=()) -> Validator:
    def check(value, name):
        if value == "":
            return None
        if not isinstance(value, dict):
            raise InvalidParams(f"Invalid hash: {name}", name)
        return validate_params(value, fields, required, prefix=name)
    return check


def metadata(value, name):
    """Returns ``None`` for ``metadata=""`` (clear all); a ``""`` value deletes that key."""
    if value == "":
        return None
    if not isinstance(value, dict):
        raise InvalidParams(f"Invalid hash: {name}", name)
    for key, item in value.items():
        param = f"{name}[{key}]"
        if not isinstance(item, str):
            raise InvalidParams(f"Invalid {param}: metadata values must be strings", param)
        if len(key) > 40:
            raise InvalidParams("Metadata keys can have up to 40 characters.", param)
        if len(item) > 500:
            raise InvalidParams("Metadata values can have up to 500 characters.", param)
    return dict(value)


def validate_params(raw: dict, spec: dict, required=(), prefix=None) -> dict:
    clean = {}
    for key, value in raw.items():
        name = f"{prefix}[{key}]" if prefix else key
        if key not in spec:
            raise InvalidParams(f"Received unknown parameter: {name}", name)
        clean[key] = spec[key](value, name)
    for key in required:
        if clean.get(key) is None:
            raise missing_param(f"{prefix}[{key}]" if prefix else key)
    return clean


LIST_PARAMS = {"limit": integer, "starting_after": string, "ending_before": string}


# --- State and object helpers -------------------------------------------------

_ID_ALPHABET = ascii_letters + digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def now() -> int:
    return int(time.time())


class Store:
    """Every object the server knows about. Guarded by ``App.lock``."""

    def __init__(self):
        self.clear()

    def clear(self) -> None:
        self.customers: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self.invoice_items: dict[str, dict] = {}
        self.invoice_lines: dict[str, list[str]] = {}  # invoice id -> item ids, in line order
        self.line_ids: dict[str, str] = {}  # invoice item id -> il_ id of its line
        self.webhook_endpoints: dict[str, dict] = {}
        self.events: dict[str, dict] = {}
        self.event_bodies: dict[str, bytes] = {}
        self.request_log: list[dict] = []


@dataclass
class Call:
    """What a handler needs besides its parameters."""

    store: Store
    webhooks: "WebhookDispatcher"
    request_id: str | None
    idempotency_key: str | None
    base_url: str


def find(objects: dict, object_id: str, kind: str, param="id", status=404) -> dict:
    if object_id not in objects:
        raise resource_missing(kind, object_id, param, status)
    return objects[object_id]


def newest_first(objects: dict) -> list[dict]:
    return list(reversed(objects.values()))


def merge_metadata(current: dict, update: dict | None) -> dict:
    if update is None:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def list_object(data: list, url: str, has_more: bool = False) -> dict:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def paginate(objects: list[dict], params: dict, url: str) -> dict:
    """Stripe cursor pagination over ``objects`` (already in list order)."""
    limit = params.get("limit") or 10
    if not 1 <= limit <= 100:
        raise InvalidParams("Invalid limit: must be between 1 and 100", "limit")
    ids = [obj["id"] for obj in objects]
    for cursor in ("starting_after", "ending_before"):
        if params.get(cursor) is not None and params[cursor] not in ids:
            raise resource_missing("object", params[cursor], cursor, status=400)
    if params.get("ending_before") is not None:
        before = objects[:ids.index(params["ending_before"])]
        return list_object(before[-limit:], url, has_more=len(before) > limit)
    if params.get("starting_after") is not None:
        objects = objects[ids.index(params["starting_after"]) + 1:]
    return list_object(objects[:limit], url, has_more=len(objects) > limit)


def deleted_object(object_id: str, kind: str) -> dict:
    return {"id": object_id, "object": kind, "deleted": True}


def render_by_id(store: Store, object_id: str) -> dict | str:
    if object_id in store.customers:
        return copy.deepcopy(store.customers[object_id])
    if object_id in store.invoices:
        return render_invoice(store, store.invoices[object_id])
    return object_id


def expand_references(store: Store, obj: dict, paths: list[str]) -> None:
    """Replace id references named in ``expand[]`` (e.g. ``customer``, ``data.customer``)."""
    for path in paths:
        targets, name = (obj["data"], path[5:]) if path.startswith("data.") else ([obj], path)
        for target in targets:
            if isinstance(target.get(name), str):
                target[name] = render_by_id(store, target[name])


# --- Events and webhooks ------------------------------------------------------


def subscribed_endpoints(store: Store, event_type: str) -> list[dict]:
    return [endpoint for endpoint in store.webhook_endpoints.values()
            if "*" in endpoint["enabled_events"] or event_type in endpoint["enabled_events"]]


def emit_event(call: Call, event_type: str, obj: dict) -> None:
    """Record an event for ``obj`` and queue it for every subscribed endpoint."""
    endpoints = subscribed_endpoints(call.store, event_type)
    event = {
        "id": new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": now(),
        "data": {"object": copy.deepcopy(obj)},
        "livemode": False,
        "pending_webhooks": len(endpoints),
        "request": {"id": call.request_id, "idempotency_key": call.idempotency_key},
        "type": event_type,
    }
    body = encode_json(event)
    call.store.events[event["id"]] = event
    call.store.event_bodies[event["id"]] = body
    for endpoint in endpoints:
        call.webhooks.send(endpoint, body)


def sign_payload(secret: str, body: bytes, timestamp: int) -> str:
    """Stripe's scheme: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # Stripe counts a 3xx as a failed delivery


_WEBHOOK_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _RefuseRedirects)


@dataclass
class Delivery:
    url: str
    secret: str
    body: bytes


def post_delivery(delivery: Delivery) -> bool:
    request = urllib.request.Request(delivery.url, data=delivery.body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Stripe-Signature": sign_payload(delivery.secret, delivery.body, now()),
    })
    try:
        with _WEBHOOK_OPENER.open(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            return 200 <= response.status < 300
    except (OSError, ValueError):  # URLError and HTTPError are OSErrors
        return False


class EndpointWorker:
    """Delivers one endpoint's events in order on its own thread, retrying failures."""

    def __init__(self):
        self.queue: queue.Queue[Delivery | None] = queue.Queue()
        self.stopped = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def send(self, delivery: Delivery) -> None:
        self.queue.put(delivery)

    def stop(self) -> None:
        self.stopped.set()
        self.queue.put(None)

    def _run(self) -> None:
        while not self.stopped.is_set():
            delivery = self.queue.get()
            if delivery is None:
                return
            for delay in (0.0, *WEBHOOK_RETRY_DELAYS):
                if self.stopped.wait(delay) or post_delivery(delivery):
                    break


class WebhookDispatcher:
    def __init__(self):
        self._lock = threading.Lock()
        self._workers: dict[str, EndpointWorker] = {}

    def send(self, endpoint: dict, body: bytes) -> None:
        with self._lock:
            worker = self._workers.get(endpoint["id"])
            if worker is None:
                worker = self._workers[endpoint["id"]] = EndpointWorker()
        worker.send(Delivery(endpoint["url"], endpoint["secret"], body))

    def stop(self, endpoint_id: str) -> None:
        with self._lock:
            worker = self._workers.pop(endpoint_id, None)
        if worker:
            worker.stop()

    def stop_all(self) -> None:
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.stop()


# --- Customers ----------------------------------------------------------------

CUSTOMER_FIELDS = {"name": string, "email": string, "description": string, "phone": string,
                   "metadata": metadata}


def find_customer(store, customer_id, param="id", status=404) -> dict:
    return find(store.customers, customer_id, "customer", param, status)


def create_customer(call: Call, params: dict) -> dict:
    customer = {
        "id": new_id("cus"), "object": "customer", "address": None, "balance": 0,
        "created": now(), "currency": None, "default_source": None, "delinquent": False,
        "description": params.get("description"), "discount": None, "email": params.get("email"),
        "invoice_prefix": "".join(secrets.choice(ascii_uppercase) for _ in range(8)),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None,
                             "footer": None, "rendering_options": None},
        "livemode": False, "metadata": merge_metadata({}, params.get("metadata")),
        "name": params.get("name"), "next_invoice_sequence": 1, "phone": params.get("phone"),
        "preferred_locales": [], "shipping": None, "tax_exempt": "none", "test_clock": None,
    }
    call.store.customers[customer["id"]] = customer
    return copy.deepcopy(customer)


def retrieve_customer(call: Call, params: dict, customer_id: str) -> dict:
    return copy.deepcopy(find_customer(call.store, customer_id))


def update_customer(call: Call, params: dict, customer_id: str) -> dict:
    customer = find_customer(call.store, customer_id)
    for name in ("name", "email", "description", "phone"):
        if name in params:
            customer[name] = params[name]
    if "metadata" in params:
        customer["metadata"] = merge_metadata(customer["metadata"], params["metadata"])
    return copy.deepcopy(customer)


def list_customers(call: Call, params: dict) -> dict:
    customers = newest_first(call.store.customers)
    if params.get("email") is not None:
        customers = [c for c in customers if c["email"] == params["email"]]
    return paginate([copy.deepcopy(c) for c in customers], params, "/v1/customers")


_SEARCH_CLAUSE = re.compile(
    r"""\s*(?:metadata\[(?P<q1>['"])(?P<key>[^'"]+)(?P=q1)\]|(?P<field>email|name|phone))"""
    r"""\s*:\s*(?P<q2>['"])(?P<value>[^'"]*)(?P=q2)\s*""")


def parse_search_query(query: str) -> tuple[Callable, list[tuple[str, str, str]]]:
    """Parse ``metadata['k']:'v'`` / ``email:'x'`` clauses joined by AND or OR."""
    if " AND " in query and " OR " in query:
        raise InvalidParams("Search queries cannot combine AND and OR.", "query")
    combine, separator = (any, " OR ") if " OR " in query else (all, " AND ")
    clauses = []
    for part in query.split(separator):
        match = _SEARCH_CLAUSE.fullmatch(part)
        if match is None:
            raise InvalidParams(
                f"We were unable to parse your search query ({part.strip()!r}). Supported "
                "clauses are metadata['key']:'value', email:'value', name:'value' and "
                "phone:'value'.", "query")
        field_name = "metadata" if match["key"] else match["field"]
        clauses.append((field_name, match["key"], match["value"]))
    return combine, clauses


def clause_matches(customer: dict, clause: tuple[str, str, str]) -> bool:
    field_name, key, value = clause
    if field_name == "metadata":
        return customer["metadata"].get(key) == value
    actual = customer.get(field_name)
    return actual is not None and actual.lower() == value.lower()


def search_customers(call: Call, params: dict) -> dict:
    combine, clauses = parse_search_query(params["query"])
    limit = params.get("limit") or 10
    if not 1 <= limit <= 100:
        raise InvalidParams("Invalid limit: must be between 1 and 100", "limit")
    page = params.get("page") or "page_0"
    if not re.fullmatch(r"page_\d+", page):
        raise InvalidParams(f"Invalid page: {page}", "page")
    offset = int(page[5:])
    matches = [copy.deepcopy(c) for c in newest_first(call.store.customers)
               if combine(clause_matches(c, clause) for clause in clauses)]
    has_more = len(matches) > offset + limit
    return {"object": "search_result", "data": matches[offset:offset + limit],
            "has_more": has_more, "next_page": f"page_{offset + limit}" if has_more else None,
            "url": "/v1/customers/search"}


# --- Invoice items ------------------------------------------------------------

INVOICE_ITEM_CREATE = {
    "customer": string, "amount": integer, "unit_amount_decimal": decimal_string,
    "quantity": integer, "currency": currency, "description": string, "invoice": string,
    "metadata": metadata, "period": hash_of({"start": integer, "end": integer}, ("start", "end")),
}
INVOICE_ITEM_LIST = {**LIST_PARAMS, "customer": string, "invoice": string, "pending": boolean}


def find_invoice_item(store, item_id) -> dict:
    return find(store.invoice_items, item_id, "invoice item")


def item_pricing(params: dict) -> tuple[int, int, Decimal]:
    """Return (amount, quantity, unit amount) from ``amount`` or ``unit_amount_decimal``."""
    amount, unit, quantity = (params.get("amount"), params.get("unit_amount_decimal"),
                              params.get("quantity"))
    if quantity is not None and quantity < 0:
        raise InvalidParams("Invalid quantity: must be greater than or equal to 0", "quantity")
    if amount is not None and unit is not None:
        raise InvalidParams("You may only specify one of these parameters: amount, "
                            "unit_amount_decimal.", "amount")
    if amount is not None:
        if quantity not in (None, 1):
            raise InvalidParams("quantity can only be set together with unit_amount_decimal; "
                                "amount is the item's total.", "quantity")
        return amount, 1, Decimal(amount)
    if unit is not None:
        quantity = 1 if quantity is None else quantity
        total = (unit * quantity).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return int(total), quantity, unit
    raise missing_param("amount")


def ensure_draft(invoice: dict, message: str) -> None:
    if invoice["status"] != "draft":
        raise ApiError(400, message, code="invoice_not_editable")


def create_invoice_item(call: Call, params: dict) -> dict:
    store = call.store
    amount, quantity, unit = item_pricing(params)
    period = params.get("period")
    if period and period["end"] < period["start"]:
        raise InvalidParams("period[end] must be greater than or equal to period[start].",
                            "period[end]")
    customer = find_customer(store, params["customer"], "customer", 400)
    invoice = None
    if params.get("invoice") is not None:
        invoice = find(store.invoices, params["invoice"], "invoice", "invoice", 400)
        ensure_draft(invoice, f"You can only add invoice items to draft invoices; invoice "
                              f"{invoice['id']} is {invoice['status']}.")
        if invoice["customer"] != customer["id"]:
            raise InvalidParams(f"Invoice {invoice['id']} belongs to a different customer.",
                                "invoice")
    item_currency = (params.get("currency") or (invoice and invoice["currency"])
                     or customer["currency"] or DEFAULT_CURRENCY)
    if invoice and item_currency != invoice["currency"]:
        raise InvalidParams(f"The currency of the invoice item ({item_currency}) must match the "
                            f"currency of invoice {invoice['id']} ({invoice['currency']}).",
                            "currency")
    created = now()
    item = {
        "id": new_id("ii"), "object": "invoiceitem", "amount": amount, "currency": item_currency,
        "customer": customer["id"], "date": created, "description": params.get("description"),
        "discountable": True, "discounts": [], "invoice": None, "livemode": False,
        "metadata": merge_metadata({}, params.get("metadata")), "net_amount": amount,
        "parent": None, "period": period or {"start": created, "end": created},
        "pricing": {"price_details": None, "type": "price_details",
                    "unit_amount_decimal": format(unit.normalize(), "f")},
        "proration": False, "quantity": quantity, "quantity_decimal": str(quantity), "tax_rates": [], "test_clock": None,
    }
    store.invoice_items[item["id"]] = item
    customer["currency"] = customer["currency"] or item_currency
    if invoice:
        attach_item(store, invoice, item)
    return copy.deepcopy(item)


def retrieve_invoice_item(call: Call, params: dict, item_id: str) -> dict:
    return copy.deepcopy(find_invoice_item(call.store, item_id))


def list_invoice_items(call: Call, params: dict) -> dict:
    items = newest_first(call.store.invoice_items)
    for name in ("customer", "invoice"):
        if params.get(name) is not None:
            items = [item for item in items if item[name] == params[name]]
    if params.get("pending") is not None:
        items = [item for item in items if (item["invoice"] is None) == params["pending"]]
    return paginate([copy.deepcopy(item) for item in items], params, "/v1/invoiceitems")


def delete_invoice_item(call: Call, params: dict, item_id: str) -> dict:
    store = call.store
    item = find_invoice_item(store, item_id)
    if item["invoice"] is not None:
        invoice = store.invoices[item["invoice"]]
        ensure_draft(invoice, "You can only delete invoice items that are pending or attached "
                              f"to a draft invoice; invoice {invoice['id']} is "
                              f"{invoice['status']}.")
        store.invoice_lines[invoice["id"]].remove(item_id)
        store.line_ids.pop(item_id)
        refresh_totals(store, invoice)
    del store.invoice_items[item_id]
    return deleted_object(item_id, "invoiceitem")


# --- Invoices -----------------------------------------------------------------

INVOICE_CREATE = {
    "customer": string, "currency": currency,
    "collection_method": one_of("charge_automatically", "send_invoice"),
    "days_until_due": integer, "due_date": integer, "auto_advance": boolean,
    "description": string, "metadata": metadata,
    "pending_invoice_items_behavior": one_of("exclude", "include"),
}
INVOICE_LIST = {**LIST_PARAMS, "customer": string,
                "status": one_of("draft", "open", "paid", "uncollectible", "void"),
                "collection_method": one_of("charge_automatically", "send_invoice")}

# Documented invoice fields that this server never moves off their defaults.
INVOICE_DEFAULTS = {
    "account_country": None, "account_name": None, "account_tax_ids": None,
    "amount_overpaid": 0, "amount_shipping": 0, "application": None,
    "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None,
                      "provider": None, "status": None},
    "automatically_finalizes_at": None, "billing_reason": "manual", "confirmation_secret": None,
    "custom_fields": None, "customer_address": None, "customer_phone": None,
    "customer_shipping": None, "customer_tax_exempt": "none", "customer_tax_ids": [],
    "default_payment_method": None, "default_source": None, "default_tax_rates": [],
    "discounts": [], "footer": None, "from_invoice": None, "issuer": {"type": "self"},
    "last_finalization_error": None, "latest_revision": None, "livemode": False,
    "next_payment_attempt": None, "on_behalf_of": None, "parent": None,
    "payment_settings": {"default_mandate": None, "payment_method_options": None,
                         "payment_method_types": None},
    "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0,
    "receipt_number": None, "rendering": None, "shipping_cost": None, "shipping_details": None,
    "starting_balance": 0, "statement_descriptor": None, "test_clock": None,
    "total_discount_amounts": [], "total_pretax_credit_amounts": [], "total_taxes": [],
}


def find_invoice(store, invoice_id) -> dict:
    return find(store.invoices, invoice_id, "invoice")


def due_date_for(collection_method: str, params: dict, created: int) -> int | None:
    days, due_date = params.get("days_until_due"), params.get("due_date")
    if collection_method != "send_invoice":
        if days is not None or due_date is not None:
            raise InvalidParams("days_until_due and due_date can only be set when "
                                "collection_method is send_invoice.",
                                "days_until_due" if days is not None else "due_date")
        return None
    if days is None and due_date is None:
        raise InvalidParams("Invoices with collection_method=send_invoice need either "
                            "days_until_due or due_date.", "days_until_due")
    if days is not None and due_date is not None:
        raise InvalidParams("Specify only one of days_until_due and due_date.", "due_date")
    if days is not None and days < 0:
        raise InvalidParams("days_until_due must be greater than or equal to 0.",
                            "days_until_due")
    return due_date if due_date is not None else created + days * 24 * 60 * 60


def line_item(store: Store, item: dict) -> dict:
    return {
        "id": store.line_ids[item["id"]], "object": "line_item", "amount": item["amount"],
        "currency": item["currency"], "description": item["description"],
        "discount_amounts": [], "discountable": item["discountable"], "discounts": [],
        "invoice": item["invoice"], "livemode": False, "metadata": dict(item["metadata"]),
        "parent": {
            "type": "invoice_item_details", "subscription_item_details": None,
            "invoice_item_details": {"invoice_item": item["id"], "proration": False,
                                     "proration_details": {"credited_items": None},
                                     "subscription": None},
        },
        "period": dict(item["period"]), "pretax_credit_amounts": [],
        "pricing": copy.deepcopy(item["pricing"]), "quantity": item["quantity"],
        "quantity_decimal": str(item["quantity"]), "subtotal": item["amount"],
        "subscription": None, "taxes": [],
    }


def invoice_line_items(store: Store, invoice_id: str) -> list[dict]:
    return [line_item(store, store.invoice_items[item_id])
            for item_id in store.invoice_lines[invoice_id]]


def render_invoice(store: Store, invoice: dict) -> dict:
    lines = invoice_line_items(store, invoice["id"])
    rendered = copy.deepcopy(invoice)
    rendered["lines"] = list_object(lines[:EMBEDDED_LINES_LIMIT],
                                    f"/v1/invoices/{invoice['id']}/lines",
                                    has_more=len(lines) > EMBEDDED_LINES_LIMIT)
    return rendered


def attach_item(store: Store, invoice: dict, item: dict) -> None:
    item["invoice"] = invoice["id"]
    store.invoice_lines[invoice["id"]].append(item["id"])
    store.line_ids[item["id"]] = new_id("il")
    refresh_totals(store, invoice)


def refresh_totals(store: Store, invoice: dict) -> None:
    """Recompute a draft's amounts from its lines; finalized amounts never change."""
    if invoice["status"] != "draft":
        return
    subtotal = sum(store.invoice_items[item_id]["amount"]
                   for item_id in store.invoice_lines[invoice["id"]])
    amount_due = max(subtotal, 0)
    invoice.update(subtotal=subtotal, subtotal_excluding_tax=subtotal, total=subtotal,
                   total_excluding_tax=subtotal, amount_due=amount_due,
                   amount_remaining=amount_due - invoice["amount_paid"])


def create_invoice(call: Call, params: dict) -> dict:
    store = call.store
    created = now()
    collection_method = params.get("collection_method") or "charge_automatically"
    due_date = due_date_for(collection_method, params, created)
    customer = find_customer(store, params["customer"], "customer", 400)
    invoice_currency = params.get("currency") or customer["currency"] or DEFAULT_CURRENCY
    invoice = {
        **copy.deepcopy(INVOICE_DEFAULTS),
        "id": new_id("in"), "object": "invoice", "amount_due": 0, "amount_paid": 0,
        "amount_remaining": 0, "attempt_count": 0, "attempted": False,
        "auto_advance": bool(params.get("auto_advance")), "collection_method": collection_method,
        "created": created, "currency": invoice_currency, "customer": customer["id"],
        "customer_email": customer["email"], "customer_name": customer["name"],
        "description": params.get("description"), "due_date": due_date, "effective_at": None,
        "ending_balance": None, "hosted_invoice_url": None, "invoice_pdf": None,
        "metadata": merge_metadata({}, params.get("metadata")), "number": None,
        "period_end": created, "period_start": created, "status": "draft",
        "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None,
                               "paid_at": None, "voided_at": None},
        "subtotal": 0, "subtotal_excluding_tax": 0, "total": 0, "total_excluding_tax": 0,
        "webhooks_delivered_at": None,
    }
    store.invoices[invoice["id"]] = invoice
    store.invoice_lines[invoice["id"]] = []
    customer["currency"] = customer["currency"] or invoice_currency
    if params.get("pending_invoice_items_behavior") == "include":
        pending = [item for item in store.invoice_items.values()
                   if item["customer"] == customer["id"] and item["invoice"] is None
                   and item["currency"] == invoice_currency]
        for item in reversed(pending):  # Stripe lists pulled-in items newest first
            attach_item(store, invoice, item)
    rendered = render_invoice(store, invoice)
    emit_event(call, "invoice.created", rendered)
    return rendered


def retrieve_invoice(call: Call, params: dict, invoice_id: str) -> dict:
    return render_invoice(call.store, find_invoice(call.store, invoice_id))


def list_invoices(call: Call, params: dict) -> dict:
    invoices = newest_first(call.store.invoices)
    for name in ("customer", "status", "collection_method"):
        if params.get(name) is not None:
            invoices = [invoice for invoice in invoices if invoice[name] == params[name]]
    return paginate([render_invoice(call.store, invoice) for invoice in invoices], params,
                    "/v1/invoices")


def list_invoice_lines(call: Call, params: dict, invoice_id: str) -> dict:
    find_invoice(call.store, invoice_id)
    return paginate(invoice_line_items(call.store, invoice_id), params,
                    f"/v1/invoices/{invoice_id}/lines")


def finalize(call: Call, invoice: dict) -> None:
    """Move a draft to ``open``: number it, freeze its totals, and emit invoice.finalized."""
    store = call.store
    customer = store.customers[invoice["customer"]]
    refresh_totals(store, invoice)
    finalized_at = now()
    invoice.update(
        status="open", effective_at=finalized_at, ending_balance=0,
        number=f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}",
        hosted_invoice_url=f"{call.base_url}/invoice/{invoice['id']}",
        invoice_pdf=f"{call.base_url}/invoice/{invoice['id']}/pdf",
        customer_email=customer["email"], customer_name=customer["name"],
        webhooks_delivered_at=finalized_at)
    invoice["status_transitions"]["finalized_at"] = finalized_at
    customer["next_invoice_sequence"] += 1
    emit_event(call, "invoice.finalized", render_invoice(store, invoice))
    if invoice["amount_due"] == 0:  # Stripe marks invoices with nothing due paid at once
        mark_paid(call, invoice, attempted=False)


def mark_paid(call: Call, invoice: dict, attempted: bool) -> None:
    if attempted:
        invoice["attempted"] = True
        invoice["attempt_count"] += 1
    invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0,
                   next_payment_attempt=None)
    invoice["status_transitions"]["paid_at"] = now()
    rendered = render_invoice(call.store, invoice)
    if attempted:
        emit_event(call, "invoice.payment_succeeded", rendered)
    emit_event(call, "invoice.paid", rendered)


def finalize_invoice(call: Call, params: dict, invoice_id: str) -> dict:
    invoice = find_invoice(call.store, invoice_id)
    if invoice["status"] != "draft":
        raise ApiError(400, "This invoice is already finalized, you can't re-finalize a "
                            "non-draft invoice.")
    if params.get("auto_advance") is not None:
        invoice["auto_advance"] = params["auto_advance"]
    finalize(call, invoice)
    return render_invoice(call.store, invoice)


def pay_invoice(call: Call, params: dict, invoice_id: str) -> dict:
    invoice = find_invoice(call.store, invoice_id)
    if invoice["status"] in ("paid", "void"):
        raise ApiError(400, f"Invoice is already {invoice['status']}.")
    if invoice["status"] == "draft":
        finalize(call, invoice)
    if invoice["status"] == "open":
        mark_paid(call, invoice, attempted=not params.get("paid_out_of_band"))
    return render_invoice(call.store, invoice)


def void_invoice(call: Call, params: dict, invoice_id: str) -> dict:
    invoice = find_invoice(call.store, invoice_id)
    if invoice["status"] not in ("open", "uncollectible"):
        raise ApiError(400, f"You can only void open or uncollectible invoices; this invoice "
                            f"is {invoice['status']}.")
    invoice["status"] = "void"
    invoice["status_transitions"]["voided_at"] = now()
    rendered = render_invoice(call.store, invoice)
    emit_event(call, "invoice.voided", rendered)
    return rendered


def delete_invoice(call: Call, params: dict, invoice_id: str) -> dict:
    store = call.store
    invoice = find_invoice(store, invoice_id)
    ensure_draft(invoice, "You can only delete draft invoices. Void finalized invoices "
                          "instead.")
    for item_id in store.invoice_lines.pop(invoice_id):
        del store.invoice_items[item_id]
        store.line_ids.pop(item_id)
    del store.invoices[invoice_id]
    return deleted_object(invoice_id, "invoice")


# --- Webhook endpoints --------------------------------------------------------


def event_type_name(value, name):
    text = _scalar(value, name)
    if text != "*" and not re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", text):
        raise InvalidParams(f"Invalid {name}: {text!r} is not an event type", name)
    return text


def webhook_url(value, name):
    text = _scalar(value, name)
    parsed = urllib.parse.urlsplit(text)
    if text and (parsed.scheme not in ("http", "https") or not parsed.netloc):
        raise InvalidParams(f"Invalid URL: {text}", name)
    return text or None


WEBHOOK_ENDPOINT_CREATE = {"url": webhook_url, "enabled_events": list_of(event_type_name),
                           "description": string, "metadata": metadata, "api_version": string}


def find_webhook_endpoint(store, endpoint_id) -> dict:
    return find(store.webhook_endpoints, endpoint_id, "webhook endpoint")


def public_endpoint(endpoint: dict) -> dict:
    """Stripe only reveals an endpoint's signing secret in the create response."""
    return {key: copy.deepcopy(value) for key, value in endpoint.items() if key != "secret"}


def create_webhook_endpoint(call: Call, params: dict) -> dict:
    if not params["enabled_events"]:
        raise missing_param("enabled_events")
    endpoint = {
        "id": new_id("we"), "object": "webhook_endpoint", "api_version": params.get("api_version"),
        "application": None, "created": now(), "description": params.get("description"),
        "enabled_events": params["enabled_events"], "livemode": False,
        "metadata": merge_metadata({}, params.get("metadata")),
        "secret": "whsec_" + secrets.token_hex(16), "status": "enabled", "url": params["url"],
    }
    call.store.webhook_endpoints[endpoint["id"]] = endpoint
    return copy.deepcopy(endpoint)


def retrieve_webhook_endpoint(call: Call, params: dict, endpoint_id: str) -> dict:
    return public_endpoint(find_webhook_endpoint(call.store, endpoint_id))


def delete_webhook_endpoint(call: Call, params: dict, endpoint_id: str) -> dict:
    find_webhook_endpoint(call.store, endpoint_id)
    del call.store.webhook_endpoints[endpoint_id]
    call.webhooks.stop(endpoint_id)
    return deleted_object(endpoint_id, "webhook_endpoint")


# --- Routing ------------------------------------------------------------------


@dataclass
class Route:
    method: str
    pattern: str  # e.g. "/v1/invoices/{id}/pay"
    handler: Callable[..., dict]
    params: dict = field(default_factory=dict)
    required: tuple = ()
    expandable: tuple = ()

    def __post_init__(self):
        self.regex = re.compile("^" + re.sub(r"\{\w+\}", "([^/]+)", self.pattern) + "$")

    def match(self, method: str, path: str) -> tuple | None:
        found = self.regex.match(path) if method == self.method else None
        return found.groups() if found else None


def find_route(routes: list[Route], method: str, path: str) -> tuple[Route, tuple]:
    for route in routes:
        path_args = route.match(method, path)
        if path_args is not None:
            return route, path_args
    raise ApiError(404, f"Unrecognized request URL ({method}: {path}). Please see "
                        "https://stripe.com/docs or we can help at https://support.stripe.com/.")


ONE_INVOICE = ("customer",)
MANY_INVOICES = ("data.customer",)

API_ROUTES = [
    Route("POST", "/v1/customers", create_customer, CUSTOMER_FIELDS),
    Route("GET", "/v1/customers/search", search_customers,
          {"query": string, "limit": integer, "page": string}, ("query",)),
    Route("GET", "/v1/customers", list_customers, {**LIST_PARAMS, "email": string}),
    Route("GET", "/v1/customers/{id}", retrieve_customer),
    Route("POST", "/v1/customers/{id}", update_customer, CUSTOMER_FIELDS),
    Route("POST", "/v1/invoiceitems", create_invoice_item, INVOICE_ITEM_CREATE, ("customer",),
          ("customer", "invoice")),
    Route("GET", "/v1/invoiceitems", list_invoice_items, INVOICE_ITEM_LIST,
          expandable=("data.customer", "data.invoice")),
    Route("GET", "/v1/invoiceitems/{id}", retrieve_invoice_item,
          expandable=("customer", "invoice")),
    Route("DELETE", "/v1/invoiceitems/{id}", delete_invoice_item),
    Route("POST", "/v1/invoices", create_invoice, INVOICE_CREATE, ("customer",), ONE_INVOICE),
    Route("GET", "/v1/invoices", list_invoices, INVOICE_LIST, expandable=MANY_INVOICES),
    Route("GET", "/v1/invoices/{id}", retrieve_invoice, expandable=ONE_INVOICE),
    Route("DELETE", "/v1/invoices/{id}", delete_invoice),
    Route("GET", "/v1/invoices/{id}/lines", list_invoice_lines, LIST_PARAMS),
    Route("POST", "/v1/invoices/{id}/finalize", finalize_invoice, {"auto_advance": boolean},
          expandable=ONE_INVOICE),
    Route("POST", "/v1/invoices/{id}/pay", pay_invoice, {"paid_out_of_band": boolean},
          expandable=ONE_INVOICE),
    Route("POST", "/v1/invoices/{id}/void", void_invoice, expandable=ONE_INVOICE),
    Route("POST", "/v1/webhook_endpoints", create_webhook_endpoint, WEBHOOK_ENDPOINT_CREATE,
          ("url", "enabled_events")),
    Route("GET", "/v1/webhook_endpoints/{id}", retrieve_webhook_endpoint),
    Route("DELETE", "/v1/webhook_endpoints/{id}", delete_webhook_endpoint),
]


# --- Idempotency --------------------------------------------------------------


@dataclass
class SavedResponse:
    status: int
    body: bytes
    request_id: str


@dataclass
class IdempotencyRecord:
    endpoint: tuple[str, str]  # (method, path)
    params: dict
    created: float
    response: SavedResponse | None = None  # None while the first request is still running


class IdempotencyStore:
    """First responses per (API key, Idempotency-Key), as Stripe keeps them for 24 hours."""

    def __init__(self):
        self._lock = threading.Lock()
        self._records: dict[tuple[str, str], IdempotencyRecord] = {}

    def begin(self, api_key: str, key: str, endpoint: tuple[str, str],
              params: dict) -> SavedResponse | None:
        """Return the saved response to replay, or None if this request should run."""
        with self._lock:
            self._prune()
            record = self._records.get((api_key, key))
            if record is None:
                self._records[(api_key, key)] = IdempotencyRecord(endpoint, params, time.time())
                return None
            if record.endpoint != endpoint:
                first, this = " ".join(record.endpoint), " ".join(endpoint)
                raise ApiError(400, "Keys for idempotent requests can only be used for the same "
                                    f"endpoint they were first used for ('{first}' vs '{this}'). "
                                    f"Try using a key other than '{key}' if you meant to execute "
                                    "a different request.", type="idempotency_error")
            if record.params != params:
                raise ApiError(400, "Keys for idempotent requests can only be used with the same "
                                    "parameters they were first used with. Try using a key other "
                                    f"than '{key}' if you meant to execute a different request.",
                               type="idempotency_error")
            if record.response is None:
                raise ApiError(409, "There is currently another in-progress request using this "
                                    f"idempotency key ('{key}'). Retry after a short delay.",
                               type="idempotency_error", code="idempotency_key_in_use",
                               headers={"Stripe-Should-Retry": "true"})
            return record.response

    def finish(self, api_key: str, key: str, response: SavedResponse) -> None:
        with self._lock:
            self._records[(api_key, key)].response = response

    def abandon(self, api_key: str, key: str) -> None:
        with self._lock:
            self._records.pop((api_key, key), None)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def _prune(self) -> None:
        cutoff = time.time() - IDEMPOTENCY_KEY_TTL_SECONDS
        for scope in [s for s, r in self._records.items() if r.created < cutoff and r.response]:
            del self._records[scope]


# --- Request handling ---------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: Any  # email.message.Message: case-insensitive .get()
    body: bytes
    host: str


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict = field(default_factory=dict)


def encode_json(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2) + "\n").encode()


def json_response(status: int, obj: Any) -> Response:
    return Response(status, encode_json(obj))


def error_response(error: ApiError) -> Response:
    response = json_response(error.status, error.body())
    response.headers.update(error.headers)
    return response


def internal_error_response() -> Response:
    traceback.print_exc()
    return json_response(500, {"error": {"type": "api_error",
                                         "message": "An unexpected error occurred."}})


NO_API_KEY_MESSAGE = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at "
    "https://support.stripe.com/.")


def api_key_from_header(header: str | None) -> str | None:
    """The key from ``Bearer <key>`` or from the user name of HTTP Basic credentials."""
    scheme, _, credentials = (header or "").strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[0] or None
    return "" if header else None


def authenticate(headers, required_key: str | None) -> str:
    unauthorized = {"WWW-Authenticate": 'Basic realm="Stripe"'}
    key = api_key_from_header(headers.get("Authorization"))
    if key is None:
        raise ApiError(401, NO_API_KEY_MESSAGE, headers=unauthorized)
    accepted = key == required_key if required_key else key.startswith("sk_test_")
    if not accepted:
        masked = key[:8] + "*" * max(len(key) - 12, 0) + key[-4:] if len(key) > 12 else key
        raise ApiError(401, f"Invalid API Key provided: {masked}", headers=unauthorized)
    return key


def request_params(request: Request) -> dict:
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if request.body and content_type not in ("", "application/x-www-form-urlencoded"):
        raise InvalidParams("Request bodies must be application/x-www-form-urlencoded.")
    params = parse_form(request.query)
    params.update(parse_form(request.body.decode("utf-8", errors="replace")))
    return params


class App:
    """Routes requests to handlers and applies auth, idempotency and request logging."""

    def __init__(self, api_key: str | None = None):
        self.api_key = api_key
        self.lock = threading.RLock()
        self.store = Store()
        self.idempotency = IdempotencyStore()
        self.webhooks = WebhookDispatcher()

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/_test/"):
            return self._guard(lambda: self._test_control(request))
        request_id = new_id("req", 14)
        log_entry = {"request_id": request_id, "method": request.method, "path": request.path,
                     "idempotency_key": request.headers.get("Idempotency-Key"),
                     "params": None, "status": None, "replayed": False}
        response = self._guard(lambda: self._serve_api(request, request_id, log_entry))
        response.headers["Request-Id"] = request_id
        response.headers["Stripe-Version"] = request.headers.get("Stripe-Version") or API_VERSION
        log_entry["status"] = response.status
        with self.lock:
            self.store.request_log.append(log_entry)
        return response

    @staticmethod
    def _guard(serve: Callable[[], Response]) -> Response:
        try:
            return serve()
        except ApiError as error:
            return error_response(error)
        except Exception:  # a bug in this server: answer as Stripe does for its own failures
            return internal_error_response()

    def _serve_api(self, request: Request, request_id: str, log_entry: dict) -> Response:
        api_key = authenticate(request.headers, self.api_key)
        route, path_args = find_route(API_ROUTES, request.method, request.path)
        params = log_entry["params"] = request_params(request)
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        call = Call(self.store, self.webhooks, request_id, key, f"http://{request.host}")
        if key is None:
            return self._execute(route, path_args, params, call)
        if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            raise InvalidParams(f"Idempotency keys can be at most {MAX_IDEMPOTENCY_KEY_LENGTH} "
                                f"characters long; this one has {len(key)}.")
        saved = self.idempotency.begin(api_key, key, (request.method, request.path), params)
        if saved is not None:
            log_entry["replayed"] = True
            return Response(saved.status, saved.body,
                            {"Idempotent-Replayed": "true", "Original-Request": saved.request_id})
        try:
            response = self._execute(route, path_args, params, call)
        except Exception:  # only validation failures escape _execute; they are not saved
            self.idempotency.abandon(api_key, key)
            raise
        self.idempotency.finish(api_key, key, SavedResponse(response.status, response.body,
                                                            request_id))
        response.headers["Original-Request"] = request_id
        return response

    def _execute(self, route: Route, path_args: tuple, raw_params: dict, call: Call) -> Response:
        """Validate, then run the endpoint. InvalidParams propagates; other errors are answers."""
        params = validate_params(raw_params, {**route.params, "expand": list_of(string)},
                                 route.required)
        for path in params.get("expand", []):
            if path not in route.expandable:
                raise InvalidParams(f"This property cannot be expanded ({path}).", "expand")
        with self.lock:
            try:
                result = route.handler(call, params, *path_args)
                expand_references(self.store, result, params.get("expand", []))
            except InvalidParams:
                raise
            except ApiError as error:
                return error_response(error)
            except Exception:
                return internal_error_response()
        return json_response(200, result)

    # Test controls: not part of Stripe's API, no authentication.

    def _test_control(self, request: Request) -> Response:
        route, path_args = find_route(TEST_ROUTES, request.method, request.path)
        with self.lock:
            call = Call(self.store, self.webhooks, None, None, f"http://{request.host}")
            return json_response(200, route.handler(self, call, *path_args))

    def fail_payment(self, call: Call, invoice_id: str) -> dict:
        invoice = find_invoice(self.store, invoice_id)
        if invoice["status"] != "open":
            raise ApiError(400, f"Only open invoices can fail payment; this invoice is "
                                f"{invoice['status']}.")
        invoice["attempted"] = True
        invoice["attempt_count"] += 1
        rendered = render_invoice(self.store, invoice)
        emit_event(call, "invoice.payment_failed", rendered)
        return rendered

    def resend_event(self, call: Call, event_id: str) -> dict:
        event = find(self.store.events, event_id, "event")
        endpoints = subscribed_endpoints(self.store, event["type"])
        for endpoint in endpoints:
            self.webhooks.send(endpoint, self.store.event_bodies[event_id])
        return {"id": event_id, "webhook_endpoints": [endpoint["id"] for endpoint in endpoints]}

    def request_log(self, call: Call) -> dict:
        return {"object": "list", "data": copy.deepcopy(self.store.request_log)}

    def reset(self, call: Call) -> dict:
        self.webhooks.stop_all()
        self.idempotency.clear()
        self.store.clear()
        return {"reset": True}


TEST_ROUTES = [
    Route("POST", "/_test/invoices/{id}/payment_failed", App.fail_payment),
    Route("POST", "/_test/events/{id}/resend", App.resend_event),
    Route("GET", "/_test/requests", App.request_log),
    Route("POST", "/_test/reset", App.reset),
]


# --- HTTP server --------------------------------------------------------------


class StripeRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return "stripe-test-server"

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_DELETE(self):
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        body = self.rfile.read(length) if length > 0 else b""
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        response = self.server.app.handle(
            Request(method, url.path, url.query, self.headers, body, host))
        self.send_response(response.status)
        headers = {"Content-Type": "application/json", "Content-Length": str(len(response.body)),
                   **response.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)


class StripeTestServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: App, verbose: bool = False):
        super().__init__(address, StripeRequestHandler)
        self.app = app
        self.verbose = verbose


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Stripe-compatible test server.")
    parser.add_argument("--port", type=int, required=True, help="port to listen on; 0 picks one")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--api-key", help="accept only this key (default: any sk_test_ key)")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    app = App(api_key=args.api_key)
    server = StripeTestServer((args.host, args.port), app, verbose=args.verbose)

    def stop(signum, frame):
        # shutdown() waits for serve_forever() to return, so it cannot run on this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        app.webhooks.stop_all()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
