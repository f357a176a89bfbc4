"""Tests for the Stripe-compatible test server.

Each test talks to a real ``server.py`` process over HTTP, with form-encoded
bodies, the way a Stripe client would. Run from the repository root:

    python3 -m unittest discover -s metering/stripe-test-server -v
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import server  # unittest discovery puts this directory on sys.path

SERVER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "server.py")
API_KEY = "sk_test_caravan"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerProcess:
    """``server.py`` running on a free port in a subprocess."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen([sys.executable, SERVER_SCRIPT, "--port", "0", *args],
                                        stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", line)
        if match is None:
            self.process.kill()
            raise RuntimeError(f"server did not start: {line!r}")
        self.url = match.group(1)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=10)
        self.process.stdout.close()
        return code


@dataclass
class Reply:
    status: int
    headers: dict
    raw: bytes

    @property
    def json(self):
        return json.loads(self.raw)


def http(base_url, method, path, params=None, *, key=API_KEY, headers=None, body=None) -> Reply:
    """Send one request; ``params`` (dict or list of pairs) go in the query or form body."""
    url = base_url + path
    encoded = urllib.parse.urlencode(params or {})
    if method == "GET" and encoded:
        url += "?" + encoded
    elif body is None and params is not None:
        body = encoded.encode()
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    if body is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with OPENER.open(request, timeout=10) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers), error.read())


def verify_stripe_signature(header: str, body: bytes, secret: str, tolerance: int = 300) -> bool:
    """Stripe's documented check: HMAC-SHA256 of ``"<t>.<body>"`` matches a v1 signature."""
    items = [item.split("=", 1) for item in header.split(",")]
    timestamp = int(dict(items)["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    signatures = [value for name, value in items if name == "v1"]
    return (abs(time.time() - timestamp) <= tolerance
            and any(hmac.compare_digest(expected.hexdigest(), s) for s in signatures))


class WebhookReceiver:
    """A local HTTP endpoint recording deliveries; it can fail the first N attempts."""

    def __init__(self, failures: int = 0):
        self.deliveries: list[tuple[dict, bytes]] = []
        self.attempts = 0
        self.failures_left = failures
        self.condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.condition:
                    receiver.attempts += 1
                    failing = receiver.failures_left > 0
                    if failing:
                        receiver.failures_left -= 1
                    else:
                        receiver.deliveries.append((dict(self.headers), body))
                        receiver.condition.notify_all()
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stripe/webhooks"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        with self.condition:
            if not self.condition.wait_for(lambda: len(self.deliveries) >= count, timeout):
                raise AssertionError(f"expected {count} deliveries, got {len(self.deliveries)}")
            return [json.loads(body) for _, body in self.deliveries]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


SERVER: ServerProcess | None = None


def setUpModule():
    global SERVER
    SERVER = ServerProcess()


def tearDownModule():
    SERVER.stop()


class ServerTestCase(unittest.TestCase):
    """Resets the shared server before each test and offers request helpers."""

    def setUp(self):
        self.assertEqual(self.post("/_test/reset", key=None).status, 200)

    def get(self, path, params=None, **kwargs) -> Reply:
        return http(SERVER.url, "GET", path, params, **kwargs)

    def post(self, path, params=None, **kwargs) -> Reply:
        return http(SERVER.url, "POST", path, params if params is not None else {}, **kwargs)

    def delete(self, path, **kwargs) -> Reply:
        return http(SERVER.url, "DELETE", path, **kwargs)

    def ok(self, reply: Reply) -> dict:
        self.assertEqual(reply.status, 200, reply.raw.decode())
        return reply.json

    def assertError(self, reply, status, type="invalid_request_error", param=None, code=None):
        self.assertEqual(reply.status, status, reply.raw.decode())
        error = reply.json["error"]
        self.assertEqual(error["type"], type)
        self.assertTrue(error["message"])
        self.assertEqual(error.get("param"), param)
        self.assertEqual(error.get("code"), code)
        return error

    def customer(self, **params) -> dict:
        return self.ok(self.post("/v1/customers", params))

    def invoice(self, customer_id, **params) -> dict:
        return self.ok(self.post("/v1/invoices", {"customer": customer_id, **params}))

    def item(self, customer_id, amount, **params) -> dict:
        return self.ok(self.post("/v1/invoiceitems",
                                 {"customer": customer_id, "amount": amount, **params}))

    def webhook_endpoint(self, receiver, *events) -> dict:
        pairs = [("url", receiver.url)] + [("enabled_events[]", event) for event in events]
        return self.ok(self.post("/v1/webhook_endpoints", pairs))


class AuthenticationTest(ServerTestCase):
    def test_missing_key_is_rejected(self):
        reply = self.get("/v1/customers", key=None)
        error = self.assertError(reply, 401)
        self.assertIn("You did not provide an API key", error["message"])
        self.assertIn("WWW-Authenticate", reply.headers)

    def test_non_test_key_is_rejected(self):
        for key in ("sk_live_123456789012", "pk_test_123456789012"):
            error = self.assertError(self.get("/v1/customers", key=key), 401)
            self.assertTrue(error["message"].startswith("Invalid API Key provided"))

    def test_basic_auth_with_key_as_user_name(self):
        credentials = base64.b64encode(f"{API_KEY}:".encode()).decode()
        reply = self.get("/v1/customers", key=None,
                         headers={"Authorization": f"Basic {credentials}"})
        self.assertEqual(reply.status, 200)

    def test_configured_key_is_the_only_one_accepted_and_sigterm_stops_cleanly(self):
        process = ServerProcess("--api-key", "sk_test_only")
        try:
            self.assertError(http(process.url, "GET", "/v1/customers", key=API_KEY), 401)
            reply = http(process.url, "GET", "/v1/customers", key="sk_test_only")
            self.assertEqual(reply.status, 200)
        finally:
            self.assertEqual(process.stop(), 0)

    def test_test_controls_need_no_key(self):
        self.assertEqual(self.get("/_test/requests", key=None).status, 200)


class RequestFormatTest(ServerTestCase):
    def test_parse_form_bracket_notation(self):
        params = server.parse_form(
            "metadata[tenant_id]=ten_1&expand[]=lines&expand[]=customer&a[b][c]=x"
            "&items[0][price]=p0&items[1][price]=p1&items[1][quantity]=2&empty=")
        self.assertEqual(params, {
            "metadata": {"tenant_id": "ten_1"},
            "expand": ["lines", "customer"],
            "a": {"b": {"c": "x"}},
            "items": {"0": {"price": "p0"}, "1": {"price": "p1", "quantity": "2"}},
            "empty": "",
        })
        items = server.list_of(server.hash_of({"price": server.string,
                                               "quantity": server.integer}))
        self.assertEqual(items(params["items"], "items"),
                         [{"price": "p0"}, {"price": "p1", "quantity": 2}])

    def test_parse_form_rejects_conflicting_shapes(self):
        for text in ("a=1&a[b]=2", "a[b]=1&a[]=2", "a[][b]=1", "a[b=1"):
            with self.assertRaises(server.InvalidParams, msg=text):
                server.parse_form(text)

    def test_bracket_notation_over_http(self):
        raw_body = b"name=Acme&metadata[tenant_id]=ten_1&metadata[plan]=pro"
        customer = self.ok(self.post("/v1/customers", body=raw_body))
        self.assertEqual(customer["metadata"], {"tenant_id": "ten_1", "plan": "pro"})
        item = self.item(customer["id"], 100, **{"period[start]": 1700000000,
                                                 "period[end]": 1700003600})
        self.assertEqual(item["period"], {"start": 1700000000, "end": 1700003600})
        invoice = self.invoice(customer["id"])
        expanded = self.ok(self.get(f"/v1/invoices/{invoice['id']}", [("expand[]", "customer")]))
        self.assertEqual(expanded["customer"]["id"], customer["id"])
        endpoint = self.ok(self.post("/v1/webhook_endpoints", {
            "url": "http://127.0.0.1:9/hook", "enabled_events[0]": "invoice.paid",
            "enabled_events[1]": "invoice.voided"}))
        self.assertEqual(endpoint["enabled_events"], ["invoice.paid", "invoice.voided"])

    def test_unknown_parameters_are_named(self):
        reply = self.post("/v1/customers", {"name": "Acme", "colour": "red"})
        error = self.assertError(reply, 400, param="colour")
        self.assertEqual(error["message"], "Received unknown parameter: colour")
        customer = self.customer()
        reply = self.post("/v1/invoiceitems", {"customer": customer["id"], "amount": 1,
                                               "period[start]": 1, "period[end]": 2,
                                               "period[middle]": 1})
        self.assertError(reply, 400, param="period[middle]")
        self.assertError(self.get("/v1/customers", {"colour": "red"}), 400, param="colour")

    def test_missing_and_malformed_parameters_are_named(self):
        error = self.assertError(self.post("/v1/invoices", {}), 400, param="customer")
        self.assertEqual(error["message"], "Missing required param: customer.")
        customer = self.customer()
        reply = self.post("/v1/invoiceitems", {"customer": customer["id"], "amount": "ten"})
        self.assertError(reply, 400, param="amount")
        reply = self.post("/v1/invoices", {"customer": customer["id"], "auto_advance": "yes"})
        self.assertError(reply, 400, param="auto_advance")
        reply = self.post("/v1/invoices", {"customer": customer["id"], "expand[]": "lines"})
        self.assertError(reply, 400, param="expand")

    def test_responses_are_json_with_request_id(self):
        reply = self.get("/v1/customers")
        self.assertRegex(reply.headers["Request-Id"], r"^req_\w+$")
        self.assertTrue(reply.headers["Content-Type"].startswith("application/json"))
        self.assertEqual(reply.json, {"object": "list", "data": [], "has_more": False,
                                      "url": "/v1/customers"})

    def test_unknown_id_is_404_resource_missing(self):
        reply = self.get("/v1/invoices/in_missing")
        self.assertEqual(reply.status, 404)
        self.assertEqual(reply.json, {"error": {
            "type": "invalid_request_error", "code": "resource_missing", "param": "id",
            "message": "No such invoice: 'in_missing'"}})

    def test_unknown_url_is_404(self):
        error = self.assertError(self.get("/v1/charges"), 404)
        self.assertTrue(error["message"].startswith("Unrecognized request URL (GET: /v1/charges)"))


class IdempotencyTest(ServerTestCase):
    def test_replay_returns_first_response_byte_for_byte(self):
        headers = {"Idempotency-Key": "create-acme"}
        first = self.post("/v1/customers", {"name": "Acme"}, headers=headers)
        second = self.post("/v1/customers", {"name": "Acme"}, headers=headers)
        self.assertEqual((first.status, second.status), (200, 200))
        self.assertEqual(first.raw, second.raw)
        self.assertNotIn("Idempotent-Replayed", first.headers)
        self.assertEqual(second.headers["Idempotent-Replayed"], "true")
        self.assertEqual(len(self.ok(self.get("/v1/customers"))["data"]), 1)

    def test_reuse_with_different_parameters_is_rejected(self):
        headers = {"Idempotency-Key": "k1"}
        self.ok(self.post("/v1/customers", {"name": "Acme"}, headers=headers))
        reply = self.post("/v1/customers", {"name": "Other"}, headers=headers)
        error = self.assertError(reply, 400, type="idempotency_error")
        self.assertTrue(error["message"].startswith(
            "Keys for idempotent requests can only be used with the same parameters they were "
            "first used with."))

    def test_reuse_on_a_different_endpoint_is_rejected(self):
        headers = {"Idempotency-Key": "k2"}
        customer = self.ok(self.post("/v1/customers", {"name": "Acme"}, headers=headers))
        reply = self.post("/v1/invoices", {"customer": customer["id"]}, headers=headers)
        self.assertError(reply, 400, type="idempotency_error")

    def test_keys_are_scoped_per_api_key(self):
        headers = {"Idempotency-Key": "shared"}
        first = self.ok(self.post("/v1/customers", {"name": "A"}, headers=headers))
        second = self.post("/v1/customers", {"name": "A"}, headers=headers, key="sk_test_other")
        self.assertNotIn("Idempotent-Replayed", second.headers)
        self.assertNotEqual(self.ok(second)["id"], first["id"])

    def test_errors_from_a_running_endpoint_are_replayed(self):
        headers = {"Idempotency-Key": "finalize-missing"}
        first = self.post("/v1/invoices/in_missing/finalize", headers=headers)
        second = self.post("/v1/invoices/in_missing/finalize", headers=headers)
        self.assertEqual((first.status, second.status), (404, 404))
        self.assertEqual(first.raw, second.raw)
        self.assertEqual(second.headers["Idempotent-Replayed"], "true")

    def test_validation_failures_are_not_saved(self):
        headers = {"Idempotency-Key": "retry-me"}
        self.assertError(self.post("/v1/customers", {"nmae": "Acme"}, headers=headers), 400,
                         param="nmae")
        reply = self.post("/v1/customers", {"name": "Acme"}, headers=headers)
        self.assertEqual(self.ok(reply)["name"], "Acme")

    def test_key_longer_than_255_characters_is_rejected(self):
        self.ok(self.post("/v1/customers", headers={"Idempotency-Key": "k" * 255}))
        reply = self.post("/v1/customers", headers={"Idempotency-Key": "k" * 256})
        self.assertError(reply, 400)

    def test_get_requests_ignore_the_key(self):
        headers = {"Idempotency-Key": "get"}
        self.get("/v1/customers", headers=headers)
        self.customer()
        reply = self.get("/v1/customers", headers=headers)
        self.assertNotIn("Idempotent-Replayed", reply.headers)
        self.assertEqual(len(reply.json["data"]), 1)

    def test_key_in_use_by_a_running_request_is_409(self):
        store = server.IdempotencyStore()
        endpoint = ("POST", "/v1/customers")
        self.assertIsNone(store.begin(API_KEY, "k", endpoint, {}))
        with self.assertRaises(server.ApiError) as raised:
            store.begin(API_KEY, "k", endpoint, {})
        self.assertEqual((raised.exception.status, raised.exception.type),
                         (409, "idempotency_error"))
        store.finish(API_KEY, "k", server.SavedResponse(200, b"{}", "req_1"))
        self.assertEqual(store.begin(API_KEY, "k", endpoint, {}).body, b"{}")


class CustomerTest(ServerTestCase):
    def test_create_retrieve_update(self):
        customer = self.customer(name="Acme", email="billing@acme.test", description="first",
                                 **{"metadata[tenant_id]": "ten_1", "metadata[plan]": "pro"})
        self.assertRegex(customer["id"], r"^cus_\w+$")
        self.assertEqual((customer["object"], customer["livemode"]), ("customer", False))
        self.assertIsInstance(customer["created"], int)
        updated = self.ok(self.post(f"/v1/customers/{customer['id']}", {
            "metadata[plan]": "", "metadata[region]": "eu", "description": ""}))
        self.assertEqual(updated["metadata"], {"tenant_id": "ten_1", "region": "eu"})
        self.assertIsNone(updated["description"])
        self.assertEqual(self.ok(self.get(f"/v1/customers/{customer['id']}")), updated)

    def test_list_paginates_newest_first_and_filters_by_email(self):
        ids = [self.customer(email=f"c{n}@test")["id"] for n in range(3)]
        page = self.ok(self.get("/v1/customers", {"limit": 2}))
        self.assertEqual([c["id"] for c in page["data"]], [ids[2], ids[1]])
        self.assertTrue(page["has_more"])
        rest = self.ok(self.get("/v1/customers", {"limit": 2, "starting_after": ids[1]}))
        self.assertEqual(([c["id"] for c in rest["data"]], rest["has_more"]), ([ids[0]], False))
        by_email = self.ok(self.get("/v1/customers", {"email": "c1@test"}))
        self.assertEqual([c["id"] for c in by_email["data"]], [ids[1]])

    def test_search_by_metadata_and_email(self):
        match = self.customer(email="a@test", **{"metadata[tenant_id]": "ten_123"})
        self.customer(email="b@test", **{"metadata[tenant_id]": "ten_123"})
        self.customer(email="a@test", **{"metadata[tenant_id]": "ten_999"})
        result = self.ok(self.get("/v1/customers/search", {
            "query": "metadata['tenant_id']:'ten_123' AND email:'a@test'"}))
        self.assertEqual(result, {"object": "search_result", "data": [match], "has_more": False,
                                  "next_page": None, "url": "/v1/customers/search"})
        by_tenant = self.ok(self.get("/v1/customers/search",
                                     {"query": "metadata['tenant_id']:'ten_123'"}))
        self.assertEqual(len(by_tenant["data"]), 2)
        reply = self.get("/v1/customers/search", {"query": "created>0"})
        self.assertError(reply, 400, param="query")


class InvoiceTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.cus = self.customer(name="Acme", email="billing@acme.test")["id"]

    def test_new_invoice_is_a_draft_with_a_lines_list(self):
        invoice = self.invoice(self.cus, description="March", **{"metadata[period]": "2025-03"})
        self.assertRegex(invoice["id"], r"^in_\w+$")
        self.assertEqual((invoice["status"], invoice["currency"], invoice["collection_method"]),
                         ("draft", "usd", "charge_automatically"))
        self.assertEqual(invoice["lines"], {"object": "list", "data": [], "has_more": False,
                                            "url": f"/v1/invoices/{invoice['id']}/lines"})
        self.assertIsNone(invoice["number"])

    def test_send_invoice_requires_days_until_due(self):
        reply = self.post("/v1/invoices", {"customer": self.cus,
                                           "collection_method": "send_invoice"})
        self.assertError(reply, 400, param="days_until_due")
        invoice = self.invoice(self.cus, collection_method="send_invoice", days_until_due=30)
        self.assertEqual(invoice["due_date"], invoice["created"] + 30 * 86400)

    def test_unknown_customer_is_rejected(self):
        reply = self.post("/v1/invoices", {"customer": "cus_missing"})
        self.assertError(reply, 400, param="customer", code="resource_missing")

    def test_pending_items_are_pulled_in_only_when_included(self):
        first = self.item(self.cus, 100)
        second = self.item(self.cus, 200)
        excluded = self.invoice(self.cus)
        self.assertEqual(excluded["lines"]["data"], [])
        included = self.invoice(self.cus, pending_invoice_items_behavior="include")
        lines = included["lines"]["data"]
        invoice_items = [line["parent"]["invoice_item_details"]["invoice_item"] for line in lines]
        self.assertEqual(invoice_items, [second["id"], first["id"]])  # newest first, as Stripe
        self.assertEqual(included["total"], 300)

    def test_items_become_lines_in_creation_order(self):
        invoice = self.invoice(self.cus)
        for amount, description in ((500, "compute"), (-100, "credit"), (42, "egress")):
            self.item(self.cus, amount, invoice=invoice["id"], description=description,
                      **{"metadata[meter]": description})
        lines = self.ok(self.get(f"/v1/invoices/{invoice['id']}/lines"))
        self.assertEqual([(line["object"], line["amount"], line["description"], line["quantity"],
                           line["metadata"]["meter"]) for line in lines["data"]],
                         [("line_item", 500, "compute", 1, "compute"),
                          ("line_item", -100, "credit", 1, "credit"),
                          ("line_item", 42, "egress", 1, "egress")])
        self.assertTrue(all(line["id"].startswith("il_") for line in lines["data"]))
        retrieved = self.ok(self.get(f"/v1/invoices/{invoice['id']}"))
        self.assertEqual(retrieved["lines"]["data"], lines["data"])

    def test_finalize_sums_lines_and_numbers_the_invoice(self):
        invoice = self.invoice(self.cus)
        self.item(self.cus, 1500, invoice=invoice["id"])
        self.item(self.cus, -200, invoice=invoice["id"])
        self.ok(self.post("/v1/invoiceitems", {"customer": self.cus, "invoice": invoice["id"],
                                               "unit_amount_decimal": "12.5", "quantity": 4}))
        final = self.ok(self.post(f"/v1/invoices/{invoice['id']}/finalize"))
        self.assertEqual(final["status"], "open")
        self.assertEqual((final["subtotal"], final["total"], final["amount_due"],
                          final["amount_paid"], final["amount_remaining"]),
                         (1350, 1350, 1350, 0, 1350))
        self.assertRegex(final["number"], r"^[A-Z]{8}-0001$")
        self.assertEqual(final["hosted_invoice_url"], f"{SERVER.url}/invoice/{invoice['id']}")
        self.assertIsInstance(final["status_transitions"]["finalized_at"], int)

    def test_refinalizing_is_rejected(self):
        invoice = self.invoice(self.cus)
        self.item(self.cus, 100, invoice=invoice["id"])
        self.ok(self.post(f"/v1/invoices/{invoice['id']}/finalize"))
        error = self.assertError(self.post(f"/v1/invoices/{invoice['id']}/finalize"), 400)
        self.assertEqual(error["message"], "This invoice is already finalized, you can't "
                                           "re-finalize a non-draft invoice.")

    def test_pay_marks_the_invoice_paid(self):
        invoice = self.invoice(self.cus)
        self.item(self.cus, 700, invoice=invoice["id"])
        self.ok(self.post(f"/v1/invoices/{invoice['id']}/finalize"))
        paid = self.ok(self.post(f"/v1/invoices/{invoice['id']}/pay",
                                 {"paid_out_of_band": "true"}))
        self.assertEqual((paid["status"], paid["amount_paid"], paid["amount_remaining"]),
                         ("paid", 700, 0))
        self.assertIsInstance(paid["status_transitions"]["paid_at"], int)
        self.assertError(self.post(f"/v1/invoices/{invoice['id']}/pay"), 400)

    def test_nothing_due_is_paid_on_finalize(self):
        invoice = self.invoice(self.cus)
        final = self.ok(self.post(f"/v1/invoices/{invoice['id']}/finalize"))
        self.assertEqual((final["status"], final["amount_due"]), ("paid", 0))

    def test_void_only_open_invoices(self):
        invoice = self.invoice(self.cus)
        self.item(self.cus, 100, invoice=invoice["id"])
        self.assertError(self.post(f"/v1/invoices/{invoice['id']}/void"), 400)
        self.ok(self.post(f"/v1/invoices/{invoice['id']}/finalize"))
        voided = self.ok(self.post(f"/v1/invoices/{invoice['id']}/void"))
        self.assertEqual(voided["status"], "void")

    def test_delete_only_drafts(self):
        draft = self.invoice(self.cus)
        item = self.item(self.cus, 100, invoice=draft["id"])
        self.assertEqual(self.ok(self.delete(f"/v1/invoices/{draft['id']}")),
                         {"id": draft["id"], "object": "invoice", "deleted": True})
        self.assertEqual(self.get(f"/v1/invoices/{draft['id']}").status, 404)
        self.assertEqual(self.get(f"/v1/invoiceitems/{item['id']}").status, 404)
        opened = self.invoice(self.cus)
        self.item(self.cus, 100, invoice=opened["id"])
        self.ok(self.post(f"/v1/invoices/{opened['id']}/finalize"))
        self.assertError(self.delete(f"/v1/invoices/{opened['id']}"), 400,
                         code="invoice_not_editable")

    def test_list_filters_by_customer_and_status(self):
        other = self.customer()["id"]
        draft = self.invoice(self.cus)
        opened = self.invoice(self.cus)
        self.item(self.cus, 100, invoice=opened["id"])
        self.ok(self.post(f"/v1/invoices/{opened['id']}/finalize"))
        self.invoice(other)
        mine = self.ok(self.get("/v1/invoices", {"customer": self.cus}))
        self.assertEqual([i["id"] for i in mine["data"]], [opened["id"], draft["id"]])
        drafts = self.ok(self.get("/v1/invoices", {"customer": self.cus, "status": "draft"}))
        self.assertEqual([i["id"] for i in drafts["data"]], [draft["id"]])


class InvoiceItemTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.cus = self.customer()["id"]

    def test_create_and_retrieve(self):
        item = self.item(self.cus, -250, currency="EUR", description="credit")
        self.assertRegex(item["id"], r"^ii_\w+$")
        self.assertEqual((item["object"], item["amount"], item["currency"], item["invoice"]),
                         ("invoiceitem", -250, "eur", None))
        self.assertEqual(self.ok(self.get(f"/v1/invoiceitems/{item['id']}")), item)

    def test_unit_amount_decimal_times_quantity(self):
        item = self.ok(self.post("/v1/invoiceitems", {
            "customer": self.cus, "unit_amount_decimal": "0.125", "quantity": 100}))
        self.assertEqual((item["amount"], item["quantity"]), (13, 100))

    def test_amount_is_required_and_exclusive(self):
        self.assertError(self.post("/v1/invoiceitems", {"customer": self.cus}), 400,
                         param="amount")
        reply = self.post("/v1/invoiceitems", {"customer": self.cus, "amount": 1,
                                               "unit_amount_decimal": "1"})
        self.assertError(reply, 400, param="amount")

    def test_only_draft_invoices_accept_items(self):
        invoice = self.invoice(self.cus)
        self.item(self.cus, 100, invoice=invoice["id"])
        self.ok(self.post(f"/v1/invoices/{invoice['id']}/finalize"))
        reply = self.post("/v1/invoiceitems", {"customer": self.cus, "amount": 5,
                                               "invoice": invoice["id"]})
        self.assertError(reply, 400, code="invoice_not_editable")

    def test_currency_must_match_the_invoice(self):
        invoice = self.invoice(self.cus, currency="usd")
        reply = self.post("/v1/invoiceitems", {"customer": self.cus, "amount": 5,
                                               "currency": "eur", "invoice": invoice["id"]})
        self.assertError(reply, 400, param="currency")

    def test_delete_pending_or_draft_items_only(self):
        pending = self.item(self.cus, 1)
        self.assertEqual(self.ok(self.delete(f"/v1/invoiceitems/{pending['id']}")),
                         {"id": pending["id"], "object": "invoiceitem", "deleted": True})
        invoice = self.invoice(self.cus)
        on_draft = self.item(self.cus, 10, invoice=invoice["id"])
        kept = self.item(self.cus, 20, invoice=invoice["id"])
        self.ok(self.delete(f"/v1/invoiceitems/{on_draft['id']}"))
        draft = self.ok(self.get(f"/v1/invoices/{invoice['id']}"))
        self.assertEqual((len(draft["lines"]["data"]), draft["total"]), (1, 20))
        self.ok(self.post(f"/v1/invoices/{invoice['id']}/finalize"))
        self.assertError(self.delete(f"/v1/invoiceitems/{kept['id']}"), 400,
                         code="invoice_not_editable")

    def test_list_filters(self):
        invoice = self.invoice(self.cus)
        attached = self.item(self.cus, 1, invoice=invoice["id"])
        pending = self.item(self.cus, 2)
        self.item(self.customer()["id"], 3)
        def ids(params):
            return [i["id"] for i in self.ok(self.get("/v1/invoiceitems", params))["data"]]
        self.assertEqual(ids({"customer": self.cus}), [pending["id"], attached["id"]])
        self.assertEqual(ids({"invoice": invoice["id"]}), [attached["id"]])
        self.assertEqual(ids({"customer": self.cus, "pending": "true"}), [pending["id"]])


class WebhookTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.receiver = WebhookReceiver()
        self.addCleanup(self.receiver.close)
        self.cus = self.customer()["id"]

    def open_invoice(self, amount=1000) -> dict:
        invoice = self.invoice(self.cus)
        self.item(self.cus, amount, invoice=invoice["id"])
        return self.ok(self.post(f"/v1/invoices/{invoice['id']}/finalize"))

    def test_secret_is_only_in_the_create_response(self):
        endpoint = self.webhook_endpoint(self.receiver, "*")
        self.assertRegex(endpoint["secret"], r"^whsec_\w+$")
        self.assertRegex(endpoint["id"], r"^we_\w+$")
        retrieved = self.ok(self.get(f"/v1/webhook_endpoints/{endpoint['id']}"))
        self.assertNotIn("secret", retrieved)
        self.assertEqual(retrieved["url"], self.receiver.url)
        self.ok(self.delete(f"/v1/webhook_endpoints/{endpoint['id']}"))
        self.assertEqual(self.get(f"/v1/webhook_endpoints/{endpoint['id']}").status, 404)

    def test_signed_invoice_events_arrive_in_order(self):
        endpoint = self.webhook_endpoint(self.receiver, "invoice.created", "invoice.finalized",
                                         "invoice.paid")
        invoice = self.invoice(self.cus)
        self.item(self.cus, 900, invoice=invoice["id"])
        self.ok(self.post(f"/v1/invoices/{invoice['id']}/finalize"))
        self.ok(self.post(f"/v1/invoices/{invoice['id']}/pay", {"paid_out_of_band": "true"},
                          headers={"Idempotency-Key": "pay-1"}))
        events = self.receiver.wait_for(3)
        self.assertEqual([e["type"] for e in events],
                         ["invoice.created", "invoice.finalized", "invoice.paid"])
        for (headers, body), event in zip(self.receiver.deliveries, events):
            self.assertTrue(verify_stripe_signature(headers["Stripe-Signature"], body,
                                                    endpoint["secret"]))
            self.assertFalse(verify_stripe_signature(headers["Stripe-Signature"], body,
                                                     "whsec_wrong"))
            self.assertRegex(event["id"], r"^evt_\w+$")
            self.assertEqual((event["object"], event["livemode"], event["api_version"]),
                             ("event", False, server.API_VERSION))
            self.assertEqual(event["data"]["object"]["id"], invoice["id"])
        paid = events[2]
        self.assertEqual(paid["data"]["object"]["status"], "paid")
        self.assertEqual(paid["request"]["idempotency_key"], "pay-1")
        self.assertEqual(paid["pending_webhooks"], 1)

    def test_endpoints_only_receive_enabled_events(self):
        wildcard = WebhookReceiver()
        self.addCleanup(wildcard.close)
        self.webhook_endpoint(self.receiver, "invoice.paid")
        self.webhook_endpoint(wildcard, "*")
        invoice = self.open_invoice()
        self.ok(self.post(f"/v1/invoices/{invoice['id']}/pay"))
        self.assertEqual([e["type"] for e in wildcard.wait_for(4)],
                         ["invoice.created", "invoice.finalized", "invoice.payment_succeeded",
                          "invoice.paid"])
        self.assertEqual([e["type"] for e in self.receiver.wait_for(1)], ["invoice.paid"])

    def test_failed_deliveries_are_retried(self):
        flaky = WebhookReceiver(failures=2)
        self.addCleanup(flaky.close)
        self.webhook_endpoint(flaky, "invoice.created")
        invoice = self.invoice(self.cus)
        events = flaky.wait_for(1)
        self.assertEqual(events[0]["data"]["object"]["id"], invoice["id"])
        self.assertEqual(flaky.attempts, 3)

    def test_payment_failed_and_void(self):
        self.webhook_endpoint(self.receiver, "invoice.payment_failed", "invoice.voided")
        invoice = self.open_invoice()
        failed = self.ok(self.post(f"/_test/invoices/{invoice['id']}/payment_failed", key=None))
        self.assertEqual((failed["status"], failed["attempt_count"]), ("open", 1))
        self.ok(self.post(f"/v1/invoices/{invoice['id']}/void"))
        events = self.receiver.wait_for(2)
        self.assertEqual([e["type"] for e in events],
                         ["invoice.payment_failed", "invoice.voided"])
        self.assertEqual(events[0]["data"]["object"]["attempt_count"], 1)
        self.assertEqual(events[1]["data"]["object"]["status"], "void")

    def test_resend_delivers_the_same_event_again(self):
        self.webhook_endpoint(self.receiver, "invoice.created")
        self.invoice(self.cus)
        original = self.receiver.wait_for(1)[0]
        self.ok(self.post(f"/_test/events/{original['id']}/resend", key=None))
        resent = self.receiver.wait_for(2)[1]
        self.assertEqual(resent, original)
        self.assertEqual(self.receiver.deliveries[0][1], self.receiver.deliveries[1][1])


class TestControlTest(ServerTestCase):
    def test_request_log_records_every_api_request(self):
        headers = {"Idempotency-Key": "once"}
        self.post("/v1/customers", {"metadata[tenant_id]": "ten_1"}, headers=headers)
        self.post("/v1/customers", {"metadata[tenant_id]": "ten_1"}, headers=headers)
        self.get("/v1/customers/cus_missing")
        log = self.ok(self.get("/_test/requests", key=None))["data"]
        self.assertEqual([(e["method"], e["path"], e["status"], e["replayed"]) for e in log],
                         [("POST", "/v1/customers", 200, False),
                          ("POST", "/v1/customers", 200, True),
                          ("GET", "/v1/customers/cus_missing", 404, False)])
        self.assertEqual(log[0]["params"], {"metadata": {"tenant_id": "ten_1"}})
        self.assertEqual(log[0]["idempotency_key"], "once")
        self.assertRegex(log[0]["request_id"], r"^req_\w+$")

    def test_reset_clears_state(self):
        self.customer()
        self.post("/_test/reset", key=None)
        self.assertEqual(self.ok(self.get("/v1/customers"))["data"], [])
        self.assertEqual(len(self.ok(self.get("/_test/requests", key=None))["data"]), 1)

    def test_unknown_test_control_is_404(self):
        self.assertError(self.post("/_test/nothing", key=None), 404)


if __name__ == "__main__":
    unittest.main()
