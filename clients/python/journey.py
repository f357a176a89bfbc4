"""The whole user journey through the Python client generated from openapi/openapi.json.

Run by .ci/clients against a fresh `caravan serve`:
    python journey.py BASE_URL ADMIN_KEY REPOSITORY_ROOT
Every step checks the status code and the typed model the generated client parsed, so a
response that disagrees with the document fails here.
"""

import datetime
import sys
import time
from pathlib import Path

from caravan_client import AuthenticatedClient
from caravan_client.api.billing import close_billing_period, get_invoice, list_invoices
from caravan_client.api.executions import get_execution, run_capsule
from caravan_client.api.identity import show_whoami
from caravan_client.api.keys import create_key, revoke_key
from caravan_client.api.metering import ingest_events, query_usage
from caravan_client.api.publishers import register_publisher_key
from caravan_client.api.registry import publish_capsule
from caravan_client.api.search import search_capsules
from caravan_client.api.tenants import create_tenant
from caravan_client.models import (
    CreatedKey,
    CreateKeyRequest,
    CreateTenantRequest,
    ExecutionView,
    CloudEvent,
    IngestResponse,
    InvoicePage,
    InvoiceView,
    Mode,
    Problem,
    PublishForm,
    PublisherKeyView,
    RegisterPublisherKeyRequest,
    RunBody,
    Scope,
    SearchPage,
    TenantView,
    UsageReport,
    VersionView,
    Whoami,
)
from caravan_client.types import File


def expect(response, status, model):
    """The parsed body of `response`, after checking its status and its type."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.content!r}"
    assert isinstance(response.parsed, model), f"expected {model.__name__}, got {response.parsed!r}"
    return response.parsed


def main(base_url: str, admin_key: str, root: Path) -> None:
    admin = AuthenticatedClient(base_url=base_url, token=admin_key, raise_on_unexpected_status=True)

    # A tenant, and a key for it that can publish, run, meter and read its bills.
    tenant = expect(
        create_tenant.sync_detailed(client=admin, body=CreateTenantRequest(name="Python journey", plan="pro")),
        201,
        TenantView,
    )
    scopes = [
        Scope.REGISTRYREAD,
        Scope.REGISTRYPUBLISH,
        Scope.EXECUTIONSRUN,
        Scope.EXECUTIONSREAD,
        Scope.USAGEWRITE,
        Scope.USAGEREAD,
        Scope.BILLINGREAD,
    ]
    created = expect(
        create_key.sync_detailed(
            client=admin, body=CreateKeyRequest(name="journey", scopes=scopes, tenant_id=tenant.id)
        ),
        201,
        CreatedKey,
    )
    tenant_client = AuthenticatedClient(base_url=base_url, token=created.secret)
    whoami = expect(show_whoami.sync_detailed(client=tenant_client), 200, Whoami)
    assert whoami.tenant_id == tenant.id and whoami.key_id == created.key.id

    # The publisher's signing key claims the `acme` namespace; a signed capsule is published.
    public_key = (root / "fixtures/keys/acme.pub").read_text()
    expect(
        register_publisher_key.sync_detailed(
            "acme",
            client=tenant_client,
            body=RegisterPublisherKeyRequest(name="release", public_key_pem=public_key),
        ),
        201,
        PublisherKeyView,
    )
    bundle = (root / "fixtures/dist/echo.capsule").read_bytes()
    signature = (root / "fixtures/dist/echo.capsule.sig").read_text().strip()
    sbom = (root / "fixtures/sboms/echo.cdx.json").read_bytes()
    version = expect(
        publish_capsule.sync_detailed(
            client=tenant_client,
            body=PublishForm(
                bundle=File(payload=bundle, file_name="echo.capsule", mime_type="application/gzip"),
                signature=signature,
                sbom=File(payload=sbom, file_name="echo.cdx.json", mime_type="application/json"),
            ),
        ),
        201,
        VersionView,
    )
    assert version.version == "1.0.0", version

    # Search finds it, typo and all, within a second of the publish.
    for _ in range(50):
        page = expect(search_capsules.sync_detailed(client=tenant_client, q="ecoh"), 200, SearchPage)
        if any(hit.name == "acme/echo" for hit in page.hits):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("acme/echo was not found by searching `ecoh`")

    # Run it sync, then async and poll. Until the server's worker is up, runs answer 503
    # with Retry-After, which a client honours.
    for _ in range(60):
        response = run_capsule.sync_detailed(
            "acme", "echo", client=tenant_client, body=RunBody(input_={"text": "hello"}, mode=Mode.SYNC)
        )
        if response.status_code != 503:
            break
        time.sleep(float(response.headers.get("retry-after", "1")))
    ran = expect(response, 200, ExecutionView)
    assert ran.status == "succeeded" and ran.output == {"text": "hello"}, ran
    started = expect(
        run_capsule.sync_detailed(
            "acme", "echo", client=tenant_client, body=RunBody(input_={"text": "later"}, mode=Mode.ASYNC)
        ),
        202,
        ExecutionView,
    )
    for _ in range(100):
        polled = expect(get_execution.sync_detailed(started.id, client=tenant_client), 200, ExecutionView)
        if polled.status not in ("queued", "running"):
            break
        time.sleep(0.1)
    assert polled.status == "succeeded" and polled.output == {"text": "later"}, polled

    # Both runs are metered.
    usage = expect(
        query_usage.sync_detailed(client=tenant_client, meter="executions", group_by="capsule"), 200, UsageReport
    )
    assert [(row.quantity, row.groups["capsule"]) for row in usage.data] == [("2", "acme/echo")], usage

    # Usage of last month, reported late, then last month closed and its invoice read.
    first_of_month = datetime.datetime.now(datetime.timezone.utc).replace(day=1)
    last_month = first_of_month - datetime.timedelta(days=15)
    event = CloudEvent.from_dict(
        {
            "specversion": "1.0",
            "id": "python-journey-1",
            "source": "python-journey",
            "type": "caravan.usage",
            "time": last_month.isoformat(),
            "data": {"capsule": "acme/echo", "tokens_out": 1000000},
        }
    )
    ingested = expect(ingest_events.sync_detailed(client=tenant_client, body=[event]), 200, IngestResponse)
    assert ingested.accepted == 1, ingested
    period = last_month.strftime("%Y-%m")
    expect(close_billing_period.sync_detailed(period, client=admin), 200, object)
    invoices = expect(list_invoices.sync_detailed(client=tenant_client, period=period), 200, InvoicePage)
    assert len(invoices.data) == 1, invoices
    invoice = expect(get_invoice.sync_detailed(invoices.data[0].id, client=tenant_client), 200, InvoiceView)
    # Pro: the 49.00 fee, and 1,000,000 output tokens at the first tier's 0.000008.
    assert invoice.total == "57.00", invoice
    assert any(line.meter == "tokens_out" and line.amount == "8.00" for line in invoice.lines), invoice.lines

    # Revoked, the key is refused on the very next request.
    expect(revoke_key.sync_detailed(created.key.id, client=admin), 200, object)
    refused = show_whoami.sync_detailed(client=tenant_client)
    assert refused.status_code == 401 and isinstance(refused.parsed, Problem), refused
    print("python journey: ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
