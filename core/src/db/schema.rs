//! The one diesel schema both backends share. Types are the ones SQLite and PostgreSQL
//! agree on: `Text` for ids and enums, `Timestamp` (UTC) for times, `BigInt` for counts
//! and integer minor units of money.

diesel::table! {
    tenants (id) {
        id -> Text,
        name -> Text,
        plan -> Text,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}
