//! `/v1/namespaces/{namespace}/keys`: the public keys that sign a namespace's capsules.

pub mod list;
pub mod register;
pub mod retire;
