//! Page requests for list endpoints (Laravel "simple" pagination: no total count; one extra
//! row is fetched to know whether a next page exists).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    /// Oldest first (the default, as Partnero's examples list customers).
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based page number.
    pub page: u32,
    pub per_page: u32,
    pub sort: SortOrder,
}

impl PageRequest {
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }

    /// Rows to fetch: one more than a page, to learn whether there is a next one.
    pub fn fetch_limit(&self) -> u32 {
        self.per_page + 1
    }
}

/// One page of items, plus whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
    pub request: PageRequest,
}

impl<T> Page<T> {
    /// Builds a page from up to `fetch_limit()` rows.
    pub fn from_rows(mut rows: Vec<T>, request: PageRequest) -> Self {
        let has_more = rows.len() > request.per_page as usize;
        rows.truncate(request.per_page as usize);
        Self {
            items: rows,
            has_more,
            request,
        }
    }
}
