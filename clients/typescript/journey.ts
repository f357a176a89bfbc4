// The whole user journey through the TypeScript client generated from
// openapi/openapi.json (openapi-typescript types + openapi-fetch), run by .ci/clients
// against a fresh `caravan serve`:
//   npx tsx journey.ts BASE_URL ADMIN_KEY REPOSITORY_ROOT
// `tsc --noEmit` first checks that every call below type-checks against the document.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import createClient from "openapi-fetch";
import type { paths } from "./generated/caravan.js";

const [baseUrl, adminKey, root] = process.argv.slice(2);
if (!baseUrl || !adminKey || !root) {
  throw new Error("usage: journey.ts BASE_URL ADMIN_KEY REPOSITORY_ROOT");
}

const clientFor = (key: string) =>
  createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${key}` } });

function check(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(`journey failed: ${what}`);
}

/** The body of a successful answer with the expected status. */
function ok<T>(
  result: { data?: T; error?: unknown; response: Response },
  status: number,
  what: string,
): T {
  check(
    result.response.status === status && result.data !== undefined,
    `${what}: expected ${status}, got ${result.response.status} ${JSON.stringify(result.error)}`,
  );
  return result.data;
}

/** A run's 2xx body: the execution as JSON (a `stream` run's 200 is text instead). */
function execution<T>(body: T): Exclude<T, string> {
  check(typeof body !== "string", "the run answers the execution as JSON");
  return body as Exclude<T, string>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const admin = clientFor(adminKey);

// A tenant, and a key for it that can publish, run, meter and read its bills.
const tenant = ok(
  await admin.POST("/v1/tenants", { body: { name: "TypeScript journey", plan: "pro" } }),
  201,
  "create tenant",
);
const created = ok(
  await admin.POST("/v1/keys", {
    body: {
      name: "journey",
      tenant_id: tenant.id,
      scopes: [
        "registry:read",
        "registry:publish",
        "executions:run",
        "executions:read",
        "usage:write",
        "usage:read",
        "billing:read",
      ],
    },
  }),
  201,
  "create key",
);
const api = clientFor(created.secret);
const whoami = ok(await api.GET("/v1/whoami"), 200, "whoami");
check(whoami.tenant_id === tenant.id && whoami.key_id === created.key.id, "whoami names the new key");

// The publisher's signing key claims the `acme` namespace; a signed capsule is published.
ok(
  await api.POST("/v1/namespaces/{namespace}/keys", {
    params: { path: { namespace: "acme" } },
    body: { name: "release", public_key_pem: readFileSync(join(root, "fixtures/keys/acme.pub"), "utf8") },
  }),
  201,
  "register publisher key",
);
const version = ok(
  await api.POST("/v1/capsules", {
    body: {
      bundle: "echo.capsule",
      signature: readFileSync(join(root, "fixtures/dist/echo.capsule.sig"), "utf8").trim(),
      sbom: "echo.cdx.json",
    },
    // The document types the files as binary strings; the wire format is multipart.
    bodySerializer: (body) => {
      const form = new FormData();
      form.append("bundle", new Blob([readFileSync(join(root, "fixtures/dist", body.bundle))]), body.bundle);
      form.append("signature", body.signature);
      form.append("sbom", new Blob([readFileSync(join(root, "fixtures/sboms", String(body.sbom)))]), "sbom.json");
      return form;
    },
  }),
  201,
  "publish",
);
check(version.version === "1.0.0", "the published version");

// Search finds it, typo and all, within a second of the publish.
let found = false;
for (let attempt = 0; attempt < 50 && !found; attempt++) {
  const page = ok(await api.GET("/v1/search", { params: { query: { q: "ecoh" } } }), 200, "search");
  found = page.hits.some((hit) => hit.name === "acme/echo");
  if (!found) await sleep(100);
}
check(found, "acme/echo is found by searching `ecoh`");

// Run it sync, then async and poll.
const run = (mode: "sync" | "async", text: string) =>
  api.POST("/v1/capsules/{publisher}/{name}/executions", {
    params: { path: { publisher: "acme", name: "echo" } },
    body: { input: { text }, mode },
  });
// Until the server's worker is up, runs answer 503 with Retry-After, which a client honours.
let first = await run("sync", "hello");
for (let attempt = 0; attempt < 60 && first.response.status === 503; attempt++) {
  await sleep(1000 * Number(first.response.headers.get("retry-after") ?? "1"));
  first = await run("sync", "hello");
}
const ran = execution(ok(first, 200, "sync run"));
check(ran.status === "succeeded" && JSON.stringify(ran.output) === '{"text":"hello"}', "the sync output");
const started = execution(ok(await run("async", "later"), 202, "async run"));
let polled = started;
for (let attempt = 0; attempt < 100 && ["queued", "running"].includes(polled.status); attempt++) {
  await sleep(100);
  polled = ok(
    await api.GET("/v1/executions/{id}", { params: { path: { id: started.id } } }),
    200,
    "poll execution",
  );
}
check(polled.status === "succeeded" && JSON.stringify(polled.output) === '{"text":"later"}', "the async output");

// Both runs are metered.
const usage = ok(
  await api.GET("/v1/usage", { params: { query: { meter: "executions", group_by: "capsule" } } }),
  200,
  "usage",
);
check(
  usage.data.length === 1 && usage.data[0].quantity === "2" && usage.data[0].groups.capsule === "acme/echo",
  `two executions of acme/echo, got ${JSON.stringify(usage.data)}`,
);

// Usage of last month, reported late, then last month closed and its invoice read.
const now = new Date();
const lastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 15, 12));
const ingested = ok(
  await api.POST("/v1/events", {
    body: [
      {
        specversion: "1.0",
        id: "typescript-journey-1",
        source: "typescript-journey",
        type: "caravan.usage",
        time: lastMonth.toISOString(),
        data: { capsule: "acme/echo", tokens_out: 1000000 },
      },
    ],
  }),
  200,
  "ingest",
);
check(ingested.accepted === 1, "the event is accepted");
const period = lastMonth.toISOString().slice(0, 7);
ok(
  await admin.POST("/v1/billing/periods/{period}/close", { params: { path: { period } } }),
  200,
  "close period",
);
const invoices = ok(await api.GET("/v1/invoices", { params: { query: { period } } }), 200, "list invoices");
check(invoices.data.length === 1, "one invoice for the period");
const invoice = ok(
  await api.GET("/v1/invoices/{id}", { params: { path: { id: invoices.data[0].id } } }),
  200,
  "invoice",
);
// Pro: the 49.00 fee, and 1,000,000 output tokens at 0.000006.
check(invoice.total === "57.00", `invoice total 57.00, got ${invoice.total}`);
check(
  invoice.lines.some((line) => line.meter === "tokens_out" && line.amount === "8.00"),
  "the tokens_out line",
);

// Revoked, the key is refused on the very next request.
ok(
  await admin.POST("/v1/keys/{key_id}/revoke", { params: { path: { key_id: created.key.id } } }),
  200,
  "revoke",
);
const refused = await api.GET("/v1/whoami");
check(refused.response.status === 401 && refused.error !== undefined, "a revoked key gets 401");
console.log("typescript journey: ok");
