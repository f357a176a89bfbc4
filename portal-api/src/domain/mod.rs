//! Pure types of the portal: API key secrets, environments and tenant states, each
//! parsed from outside input into a value that is valid by construction.

mod secret;
mod tenant;

pub use secret::{ApiKeySecret, Environment, PresentedKey, SecretHash};
pub use tenant::{TenantKind, TenantName, TenantStatus};
