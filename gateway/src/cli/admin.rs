//! `caravan admin …`: operator commands that talk to a running server over its HTTP API
//! with an API key, like any other client. `--url` / `CARAVAN_URL` and `--key` /
//! `CARAVAN_KEY` say where and as whom.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Base URL of the Caravan server.
    #[arg(long, env = "CARAVAN_URL", default_value = "http://127.0.0.1:8080", global = true)]
    pub url: String,
    /// API key to act with (`keys:manage`; `admin` on the operator tenant for tenants).
    #[arg(long, env = "CARAVAN_KEY", hide_env_values = true, global = true)]
    pub key: Option<String>,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Manage tenants.
    #[command(subcommand)]
    Tenants(TenantCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeyCommand),
    /// Close billing periods and push invoices to Stripe.
    #[command(subcommand)]
    Billing(BillingCommand),
}

#[derive(Debug, Subcommand)]
pub enum BillingCommand {
    /// Close a period (`YYYY-MM`) into one invoice per tenant; closing again changes nothing.
    Close { period: String },
    /// Push every invoice waiting for Stripe now.
    Sync,
    /// List invoices, of one period when given.
    Invoices {
        #[arg(long)]
        period: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "free")]
        plan: String,
    },
    /// List tenants.
    List,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key; prints its secret once.
    Create {
        /// Tenant to create the key for; the caller's own when absent.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        name: String,
        /// A scope such as `registry:read`; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// `live` or `test`.
        #[arg(long, default_value = "live")]
        environment: String,
    },
    /// Revoke an API key at once.
    Revoke { key_id: String },
}

/// Runs the command and returns the JSON answer to print.
pub fn run(args: AdminArgs) -> anyhow::Result<Value> {
    let key = args.key.as_deref().context("an API key is needed: pass --key or set CARAVAN_KEY")?;
    let client = Client { base: args.url.trim_end_matches('/'), key };
    match args.command {
        AdminCommand::Tenants(TenantCommand::Create { name, plan }) => {
            client.send("POST", "/v1/tenants", Some(json!({ "name": name, "plan": plan })))
        }
        AdminCommand::Tenants(TenantCommand::List) => client.list("/v1/tenants"),
        AdminCommand::Keys(KeyCommand::Create { tenant, name, scopes, environment }) => {
            let mut body = json!({ "name": name, "scopes": scopes, "environment": environment });
            if let Some(tenant) = tenant {
                body["tenant_id"] = tenant.into();
            }
            client.send("POST", "/v1/keys", Some(body))
        }
        AdminCommand::Keys(KeyCommand::Revoke { key_id }) => {
            client.send("POST", &format!("/v1/keys/{key_id}/revoke"), Some(json!({})))
        }
        AdminCommand::Billing(BillingCommand::Close { period }) => {
            client.send("POST", &format!("/v1/billing/periods/{period}/close"), Some(json!({})))
        }
        AdminCommand::Billing(BillingCommand::Sync) => {
            client.send("POST", "/v1/billing/stripe/sync", Some(json!({})))
        }
        AdminCommand::Billing(BillingCommand::Invoices { period }) => match period {
            Some(period) => client.list(&format!("/v1/invoices?period={period}")),
            None => client.list("/v1/invoices"),
        },
    }
}

struct Client<'a> {
    base: &'a str,
    key: &'a str,
}

impl Client<'_> {
    fn send(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let authorization = format!("Bearer {}", self.key);
        let agent =
            ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
        let response = match (method, body) {
            ("GET", _) => agent.get(&url).header("Authorization", &authorization).call(),
            (_, Some(body)) => agent.post(&url).header("Authorization", &authorization).send_json(body),
            (_, None) => agent.post(&url).header("Authorization", &authorization).send_empty(),
        }
        .with_context(|| format!("cannot reach {}", self.base))?;
        let status = response.status().as_u16();
        let answer: Value = response.into_body().read_json().unwrap_or(Value::Null);
        if status >= 400 {
            let detail = answer["detail"].as_str().unwrap_or("no detail");
            bail!("{method} {path} answered {status}: {detail}");
        }
        Ok(answer)
    }

    /// Follows cursors to the end and returns every item.
    fn list(&self, path: &str) -> anyhow::Result<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let separator = if path.contains('?') { '&' } else { '?' };
            let page_path = match &cursor {
                Some(cursor) => format!("{path}{separator}limit=200&cursor={cursor}"),
                None => format!("{path}{separator}limit=200"),
            };
            let page = self.send("GET", &page_path, None)?;
            items.extend(page["data"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(Value::Array(items)),
            }
        }
    }
}
