// The web portal as a person uses it, in headless Chromium: accept the operator's first
// link, sign in, create an API key and use it, revoke it and see the API answer 401,
// register a signing key, see a published capsule and yank it, read the usage chart and
// an invoice. Then the refusals: a form without its CSRF token, a tampered session
// cookie, another tenant's object, a role without the right.
//
// Usage: node journey.mjs <base-url> <admin-key> <operator-link> <repository-root> <screenshot-dir>
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [base, adminKey, operatorLink, root, shots] = process.argv.slice(2);
if (!shots) throw new Error("usage: journey.mjs <base-url> <admin-key> <operator-link> <root> <screenshot-dir>");
mkdirSync(shots, { recursive: true });
const password = "a long enough password";

function check(condition, what) {
  if (!condition) throw new Error(`portal journey: ${what}`);
  console.log(`ok - ${what}`);
}

async function api(method, path, key, body) {
  const headers = { Authorization: `Bearer ${key}` };
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(`${base}${path}`, { method, headers, body: payload });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const owner = await browser.newContext();
  const page = await owner.newPage();

  // The operator's first link: choose an address, a name and a password.
  await page.goto(operatorLink);
  await page.getByLabel("E-mail address").fill("operator@caravan.test");
  await page.getByLabel("Your name").fill("Operator");
  await page.getByLabel(/^Password/).fill(password);
  await page.getByLabel("The same password again").fill(password);
  await page.getByRole("button", { name: "Join" }).click();
  await page.waitForURL(/\/portal\/keys/);
  check(await page.getByRole("heading", { name: "API keys" }).isVisible(), "the link signs the operator in");

  // Sign out and in again with the password.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/\/portal\/sign-in/);
  await page.getByLabel("E-mail address").fill("operator@caravan.test");
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/portal\/keys/);
  check(true, "the operator signs in with the password");

  // Create a key, use it, revoke it.
  await page.getByLabel("Name", { exact: false }).first().fill("from the browser");
  await page.getByRole("checkbox", { name: "usage:read" }).check();
  await page.getByRole("button", { name: "Create key" }).click();
  const secret = await page.locator("#secret").inputValue();
  check(secret.startsWith("cvn_live_"), "the secret is shown once");
  await page.getByRole("button", { name: "Copy" }).click();
  check((await page.getByRole("button", { name: "Copied" }).count()) === 1, "the copy button runs under the page's CSP");
  await page.screenshot({ path: join(shots, "key-created.png"), fullPage: true });
  check((await api("GET", "/v1/whoami", secret)).status === 200, "the new key works with the API");
  await page.goto(`${base}/portal/keys`);
  await page.screenshot({ path: join(shots, "keys.png"), fullPage: true });
  const row = page.getByRole("row").filter({ hasText: "from the browser" });
  await row.getByRole("button", { name: /^Revoke/ }).click();
  await page.waitForURL(/\/portal\/keys$/);
  check((await api("GET", "/v1/whoami", secret)).status === 401, "the revoked key gets 401");

  // Register a signing key for `acme`, publish the echo fixture, see it and yank it.
  await page.goto(`${base}/portal/publishing`);
  await page.getByLabel("Namespace", { exact: true }).fill("acme");
  await page.getByLabel("Key name", { exact: true }).fill("fixtures");
  await page.getByLabel(/Public key/).fill(readFileSync(join(root, "fixtures/keys/acme.pub"), "utf8"));
  await page.getByRole("button", { name: "Register" }).click();
  await page.waitForURL(/\/portal\/publishing$/);
  check(await page.getByRole("heading", { name: "acme/" }).isVisible(), "the signing key claims acme/");
  const form = new FormData();
  form.append("bundle", new Blob([readFileSync(join(root, "fixtures/dist/echo.capsule"))]), "echo.capsule");
  form.append("signature", readFileSync(join(root, "fixtures/dist/echo.capsule.sig"), "utf8").trim());
  form.append("sbom", new Blob([readFileSync(join(root, "fixtures/sboms/echo.cdx.json"))]), "sbom.cdx.json");
  check((await api("POST", "/v1/capsules", adminKey, form)).status === 201, "acme/echo is published");
  const run = await api("POST", "/v1/capsules/acme/echo/executions", adminKey, { input: { text: "hi" } });
  check(run.status === 200, `acme/echo runs (${run.status})`);
  await page.goto(`${base}/portal/publishing`);
  check(await page.getByRole("article", { name: "acme/echo" }).isVisible(), "the published capsule is listed");
  await page.screenshot({ path: join(shots, "publishing.png"), fullPage: true });
  await page.getByRole("button", { name: "Yank acme/echo 1.0.0" }).click();
  await page.waitForURL(/\/portal\/publishing$/);
  const version = await api("GET", "/v1/capsules/acme/echo/versions/1.0.0", adminKey);
  check(version.body.status === "yanked", "the version is yanked");

  // The usage chart.
  await page.goto(`${base}/portal/usage`);
  check((await page.locator("figure svg").count()) > 0, "the usage page draws its charts");
  await page.screenshot({ path: join(shots, "usage.png"), fullPage: true });
  await page.goto(`${base}/portal/audit`);
  await page.screenshot({ path: join(shots, "audit.png"), fullPage: true });

  // A form without its CSRF token is refused.
  const forged = await page.request.post(`${base}/portal/keys`, { form: { name: "forged", scope: "admin" } });
  check(forged.status() === 403, "a form without the CSRF token is refused");

  // Two customer tenants with usage last month; closing it makes an invoice for each.
  const now = new Date();
  const lastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 15, 12));
  const period = lastMonth.toISOString().slice(0, 7);
  const customers = {};
  for (const name of ["Globex", "Initech"]) {
    const tenant = await api("POST", "/v1/tenants", adminKey, { name, plan: "pro" });
    const key = await api("POST", "/v1/keys", adminKey, { name: "usage", scopes: ["usage:write"], tenant_id: tenant.body.id });
    const event = { specversion: "1.0", id: `portal-journey-${name}`, source: "portal-journey", type: "caravan.usage",
      time: lastMonth.toISOString(), data: { capsule: "acme/echo", tokens_out: 1000000 } };
    check((await api("POST", "/v1/events", key.body.secret, [event])).status === 200, `${name} reports last month's usage`);
    customers[name] = tenant.body.id;
  }
  check((await api("POST", `/v1/billing/periods/${period}/close`, adminKey)).status === 200, "last month is closed");

  // Globex's owner joins through the operator's invitation and reads the invoice.
  const globexInvite = await api("POST", "/v1/invitations", adminKey, { email: "owner@globex.test", role: "owner", tenant_id: customers.Globex });
  const globex = await browser.newContext();
  const globexPage = await globex.newPage();
  await globexPage.goto(globexInvite.body.url);
  await globexPage.getByLabel("Your name").fill("Globex Owner");
  await globexPage.getByLabel(/^Password/).fill(password);
  await globexPage.getByLabel("The same password again").fill(password);
  await globexPage.getByRole("button", { name: "Join" }).click();
  await globexPage.waitForURL(/\/portal\/keys/);
  await globexPage.goto(`${base}/portal/invoices`);
  await globexPage.getByRole("link", { name: period }).click();
  await globexPage.waitForURL(/\/portal\/invoices\/inv_/);
  const invoices = await api("GET", `/v1/invoices?period=${period}`, adminKey);
  const globexInvoice = invoices.body.data.find((invoice) => invoice.tenant_id === customers.Globex);
  const footer = await globexPage.locator("tfoot").textContent();
  check(footer.includes(globexInvoice.total), `the invoice shows its lines and total ${globexInvoice.total}`);
  await globexPage.screenshot({ path: join(shots, "invoice.png"), fullPage: true });

  // Initech's invoice is not found from Globex.
  const initechInvoice = invoices.body.data.find((invoice) => invoice.tenant_id === customers.Initech);
  const stranger = await globexPage.goto(`${base}/portal/invoices/${initechInvoice.id}`);
  check(stranger.status() === 404, "another tenant's invoice is not found");

  // A billing member cannot manage keys.
  await globexPage.goto(`${base}/portal/members`);
  await globexPage.getByLabel("E-mail address").fill("books@globex.test");
  await globexPage.getByLabel("Role").selectOption("billing");
  await globexPage.getByRole("button", { name: "Invite" }).click();
  const link = await globexPage.getByLabel("Invitation link").inputValue();
  await globexPage.screenshot({ path: join(shots, "members.png"), fullPage: true });
  const billing = await browser.newContext();
  const billingPage = await billing.newPage();
  await billingPage.goto(link);
  await billingPage.getByLabel("Your name").fill("Bookkeeper");
  await billingPage.getByLabel(/^Password/).fill(password);
  await billingPage.getByLabel("The same password again").fill(password);
  await billingPage.getByRole("button", { name: "Join" }).click();
  await billingPage.waitForURL(/\/portal\/usage/);
  const forbidden = await billingPage.goto(`${base}/portal/keys`);
  check(forbidden.status() === 403, "a billing member cannot open the keys page");

  // A tampered session cookie signs the member out.
  const [cookie] = await billing.cookies();
  const value = cookie.value;
  const middle = Math.floor(value.length / 2);
  const altered = value.slice(0, middle) + (value[middle] === "A" ? "B" : "A") + value.slice(middle + 1);
  await billing.clearCookies();
  await billing.addCookies([{ ...cookie, value: altered }]);
  await billingPage.goto(`${base}/portal/invoices`);
  check(billingPage.url().endsWith("/portal/sign-in"), "a tampered session cookie signs out");
  await billingPage.screenshot({ path: join(shots, "sign-in.png"), fullPage: true });
  console.log("portal journey: ok");
} finally {
  await browser.close();
}
