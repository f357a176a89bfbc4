//! The Stripe requests Caravan makes, through `async-stripe`, each with the idempotency
//! key the caller saved before sending it. The base URL is configurable, so tests run
//! against a local Stripe-compatible server.
//!
//! Requests are built with `async-stripe`'s typed builders; answers are read into the few
//! fields Caravan keeps (ids, status, payment page). A tolerant reader keeps working when
//! Stripe adds fields, and with compatible servers that lack some (`localstripe`).

use caravan_core::money::Currency;
use std::collections::HashMap;
use std::str::FromStr;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_billing::invoice::{
    CreateInvoice, CreateInvoicePendingInvoiceItemsBehavior, FinalizeInvoiceInvoice, RetrieveInvoice,
    VoidInvoiceInvoice,
};
use stripe_billing::invoice_item::CreateInvoiceItem;
use stripe_core::customer::{CreateCustomer, SearchCustomer};
use stripe_shared::InvoiceCollectionMethod;

/// Any created object: its id.
#[derive(Debug, miniserde::Deserialize)]
struct Created {
    id: String,
}

/// A search or list page of objects.
#[derive(Debug, miniserde::Deserialize)]
struct Page {
    data: Vec<Created>,
}

/// An invoice, as far as Caravan reads it.
#[derive(Debug, miniserde::Deserialize)]
struct InvoiceAnswer {
    id: String,
    status: Option<String>,
    hosted_invoice_url: Option<String>,
}

/// Why a Stripe request did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeFailure {
    /// Stripe refused the request itself (4xx other than 409 and 429): retrying the same
    /// request cannot succeed.
    #[error("Stripe refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    /// Stripe or the network failed; the same request, with the same key, may succeed later.
    #[error("Stripe could not be reached or failed: {0}")]
    Transient(String),
}

impl From<StripeError> for StripeFailure {
    fn from(error: StripeError) -> Self {
        match error {
            StripeError::Stripe(details, status)
                if (400..500).contains(&status) && status != 409 && status != 429 =>
            {
                Self::Refused {
                    status,
                    message: details.message.clone().unwrap_or_else(|| "no message".to_owned()),
                }
            }
            other => Self::Transient(other.to_string()),
        }
    }
}

/// What Caravan keeps of a Stripe invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeInvoice {
    pub id: String,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    pub status: String,
    pub hosted_url: Option<String>,
}

impl From<InvoiceAnswer> for StripeInvoice {
    fn from(invoice: InvoiceAnswer) -> Self {
        Self {
            id: invoice.id,
            status: invoice.status.unwrap_or_default(),
            hosted_url: invoice.hosted_invoice_url,
        }
    }
}

/// An invoice item to create on a draft Stripe invoice.
#[derive(Debug, Clone)]
pub struct NewItem<'a> {
    pub customer: &'a str,
    /// The draft invoice to attach the item to; pending (the next invoice's) when `None`.
    pub invoice: Option<&'a str>,
    pub amount_minor: i64,
    pub currency: &'a Currency,
    pub description: &'a str,
    pub metadata: HashMap<String, String>,
}

/// A Stripe account reached at a base URL.
#[derive(Clone)]
pub struct StripeApi {
    client: Client,
}

impl std::fmt::Debug for StripeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeApi").finish_non_exhaustive()
    }
}

impl StripeApi {
    /// `base_url` is Stripe's (`https://api.stripe.com/`) or a compatible server's.
    pub fn new(base_url: &str, secret_key: &str) -> Result<Self, StripeFailure> {
        let base = if base_url.ends_with('/') { base_url.to_owned() } else { format!("{base_url}/") };
        let client = ClientBuilder::new(secret_key)
            .url(base)
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|error| StripeFailure::Transient(error.to_string()))?;
        Ok(Self { client })
    }

    /// The customer whose metadata names `tenant`, if Stripe's search finds one. A server
    /// without the search API answers `None`.
    pub async fn find_customer(&self, tenant: &str) -> Result<Option<String>, StripeFailure> {
        let query = format!("metadata['caravan_tenant_id']:'{tenant}'");
        match self.send::<Page>(&SearchCustomer::new(query).limit(1), None).await {
            Ok(found) => Ok(found.data.into_iter().next().map(|customer| customer.id)),
            Err(StripeFailure::Refused { status: 404, .. }) => Ok(None),
            Err(failure) => Err(failure),
        }
    }

    pub async fn create_customer(
        &self,
        tenant: &str,
        name: &str,
        key: &str,
    ) -> Result<String, StripeFailure> {
        let request = CreateCustomer::new()
            .name(name)
            .description(format!("Caravan tenant {tenant}"))
            .metadata(HashMap::from([("caravan_tenant_id".to_owned(), tenant.to_owned())]));
        Ok(self.send::<Created>(&request, Some(key)).await?.id)
    }

    /// A draft invoice that takes only the items attached to it.
    pub async fn create_invoice(
        &self,
        customer: &str,
        currency: &Currency,
        description: &str,
        metadata: HashMap<String, String>,
        key: &str,
    ) -> Result<StripeInvoice, StripeFailure> {
        let request = CreateInvoice::new()
            .customer(customer)
            .currency(stripe_currency(currency))
            .collection_method(InvoiceCollectionMethod::SendInvoice)
            .days_until_due(30_u32)
            .auto_advance(false)
            .pending_invoice_items_behavior(CreateInvoicePendingInvoiceItemsBehavior::Exclude)
            .description(description)
            .metadata(metadata);
        Ok(self.send::<InvoiceAnswer>(&request, Some(key)).await?.into())
    }

    pub async fn create_item(&self, item: NewItem<'_>, key: &str) -> Result<String, StripeFailure> {
        let mut request = CreateInvoiceItem::new()
            .customer(item.customer)
            .amount(item.amount_minor)
            .currency(stripe_currency(item.currency))
            .description(item.description)
            .metadata(item.metadata);
        if let Some(invoice) = item.invoice {
            request = request.invoice(invoice);
        }
        Ok(self.send::<Created>(&request, Some(key)).await?.id)
    }

    pub async fn finalize(&self, invoice: &str, key: &str) -> Result<StripeInvoice, StripeFailure> {
        let request = FinalizeInvoiceInvoice::new(invoice).auto_advance(false);
        Ok(self.send::<InvoiceAnswer>(&request, Some(key)).await?.into())
    }

    pub async fn void(&self, invoice: &str, key: &str) -> Result<StripeInvoice, StripeFailure> {
        Ok(self.send::<InvoiceAnswer>(&VoidInvoiceInvoice::new(invoice), Some(key)).await?.into())
    }

    pub async fn retrieve(&self, invoice: &str) -> Result<StripeInvoice, StripeFailure> {
        Ok(self.send::<InvoiceAnswer>(&RetrieveInvoice::new(invoice), None).await?.into())
    }

    /// Sends a built request, with the idempotency key when one is given.
    async fn send<T: miniserde::Deserialize>(
        &self,
        request: &impl StripeRequest,
        key: Option<&str>,
    ) -> Result<T, StripeFailure> {
        let mut request = request.build().customize::<T>();
        if let Some(key) = key {
            request = request.request_strategy(idempotent(key)?);
        }
        Ok(request.send(&self.client).await?)
    }
}

fn idempotent(key: &str) -> Result<RequestStrategy, StripeFailure> {
    IdempotencyKey::new(key).map(RequestStrategy::Idempotent).map_err(|error| StripeFailure::Refused {
        status: 400,
        message: format!("idempotency key: {error:?}"),
    })
}

fn stripe_currency(currency: &Currency) -> stripe_types::Currency {
    // Parsing a currency code never fails: unknown codes become `Currency::Unknown`.
    match stripe_types::Currency::from_str(currency.as_str()) {
        Ok(parsed) => parsed,
        Err(never) => match never {},
    }
}
