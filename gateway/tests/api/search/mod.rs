//! Search over HTTP: typo tolerance, facets and filters, following publishes and lifecycle
//! changes, ranking from executions, the catalog, and hostile queries.

mod queries;
