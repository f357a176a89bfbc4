//! Cursor pagination: the cursor is the id of the last item of the previous page, and
//! ids sort by creation time.

use crate::error::PortalError;
use serde::Deserialize;
use utoipa::IntoParams;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 200; 50 by default.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<i64, PortalError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
            Some(_) => Err(PortalError::InvalidPage(format!("limit must be between 1 and {MAX_LIMIT}"))),
        }
    }

    /// The cursor parsed as the id type of the list, or a 400.
    pub fn cursor<T>(
        &self,
        parse: impl FnOnce(&str) -> Result<T, caravan_core::id::IdError>,
    ) -> Result<Option<T>, PortalError> {
        self.cursor.as_deref().map(parse).transpose().map_err(|_| PortalError::InvalidCursor)
    }
}

/// The cursor for the page after `items`, if the page was full.
pub fn next_cursor<T>(items: &[T], limit: i64, id: impl Fn(&T) -> String) -> Option<String> {
    let full = usize::try_from(limit).is_ok_and(|limit| items.len() == limit);
    if full { items.last().map(id) } else { None }
}
