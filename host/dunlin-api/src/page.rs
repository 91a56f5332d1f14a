//! Cursor pagination, the same for every list.

use serde::Serialize;
use utoipa::ToSchema;

use crate::ApiError;

/// The page size when a request names none.
pub(crate) const DEFAULT_LIMIT: u32 = 100;
/// The largest page.
pub(crate) const MAX_LIMIT: u32 = 1000;

/// A requested page size, checked.
pub(crate) fn limit(requested: Option<u32>) -> Result<u32, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n @ 1..=MAX_LIMIT) => Ok(n),
        Some(n) => Err(ApiError::bad(
            "invalid-query",
            format!("limit {n} is not between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// The query of a list with no filters: a page size and a cursor.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// At most this many (1 to 1000, default 100).
    pub(crate) limit: Option<u32>,
    /// The `next-cursor` of the page before.
    pub(crate) cursor: Option<String>,
}

/// A cursor as the client sent it: the id of the last item of the page before.
pub(crate) fn after(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    cursor
        .map(|c| {
            c.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                ApiError::bad("invalid-query", "the cursor is not one this API gave")
            })
        })
        .transpose()
}

/// One page of a list: the items and, when there may be more, the cursor of the next page.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct Page<T> {
    /// The items, oldest first.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from `limit + 1` fetched items: the extra one only says there is more.
    pub(crate) fn from_fetched(mut items: Vec<T>, limit: u32, id: impl Fn(&T) -> i64) -> Self {
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = more
            .then(|| items.last().map(|last| id(last).to_string()))
            .flatten();
        Page { items, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_has_a_next_cursor_only_when_more_was_fetched() {
        let full = Page::from_fetched(vec![4, 7, 9], 2, |n| i64::from(*n));
        assert_eq!(
            (full.items, full.next_cursor.as_deref()),
            (vec![4, 7], Some("7"))
        );
        let last = Page::from_fetched(vec![4, 7], 2, |n| i64::from(*n));
        assert_eq!((last.items, last.next_cursor), (vec![4, 7], None));
        assert_eq!(after(Some("7")).unwrap(), Some(7));
        assert!(after(Some("x")).is_err() && after(Some("-1")).is_err());
        assert!(limit(Some(0)).is_err() && limit(Some(MAX_LIMIT + 1)).is_err());
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
    }
}
