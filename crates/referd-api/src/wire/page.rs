//! Laravel's simple paginator: `data`, `links` (absolute URLs; `last` always null) and
//! `meta`. `links.next` keeps the request's list parameters (the n8n node follows it
//! verbatim to fetch everything).

use axum::response::Response;
use referd_core::page::Page;
use serde::Serialize;

#[derive(Serialize)]
struct Links {
    first: String,
    last: Option<String>,
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Serialize)]
struct Meta {
    current_page: u32,
    from: Option<u64>,
    path: String,
    per_page: u32,
    to: Option<u64>,
}

#[derive(Serialize)]
struct PageBody<T> {
    data: Vec<T>,
    links: Links,
    meta: Meta,
    status: u8,
}

/// Where a page lives: the absolute path and the list parameters to keep in its links.
pub struct PageLocation {
    /// `https://host/v1/customers` (public base URL + request path).
    pub path: String,
    /// Parameters other than `page`, in a stable order.
    pub params: Vec<(String, String)>,
}

impl PageLocation {
    fn url(&self, page: u32) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.params {
            query.append_pair(k, v);
        }
        query.append_pair("page", &page.to_string());
        format!("{}?{}", self.path, query.finish())
    }
}

/// Answers one page, each item shaped by `item`.
pub fn page<'a, T, U: Serialize>(
    page: &'a Page<T>,
    item: impl Fn(&'a T) -> U,
    location: PageLocation,
) -> Response {
    let current = page.request.page;
    let count = page.items.len() as u64;
    let first_index = page.request.offset() + 1;
    let body = PageBody {
        links: Links {
            first: location.url(1),
            last: None,
            prev: (current > 1).then(|| location.url(current - 1)),
            next: page.has_more.then(|| location.url(current + 1)),
        },
        meta: Meta {
            current_page: current,
            from: (count > 0).then_some(first_index),
            path: location.path,
            per_page: page.request.per_page,
            to: (count > 0).then_some(first_index + count - 1),
        },
        data: page.items.iter().map(item).collect(),
        status: 1,
    };
    crate::wire::json_response(axum::http::StatusCode::OK, &body)
}
