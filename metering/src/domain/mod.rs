//! Pure metering types: usage events, meters, billing periods and pricing. No actix, no
//! diesel.

pub mod event;
pub mod meter;
pub mod period;
pub mod pricing;
