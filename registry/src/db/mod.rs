//! The registry's tables: capsules and their versions, and the publisher keys that may
//! sign them (registered through the portal API, read here).

pub mod capsules;
pub mod signers;
