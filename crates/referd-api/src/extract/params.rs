//! Request parameters as real Partnero clients send them (spec §1.3):
//! - the query string and the body are merged for every method, GET and DELETE included
//!   (the PHP SDK sends list filters in GET bodies); the body wins on a clash;
//! - a body that is empty, `[]` (PHP's empty array) or `null` is no parameters;
//! - JSON and `application/x-www-form-urlencoded` bodies are read (a body starting with `{`
//!   or `[` is JSON whatever its Content-Type);
//! - nested names may be written `partner.key`, `partner[key]` or `partner_key`;
//! - a JSON `null` is "not provided".
//!
//! Typed getters report wrong types as 422 field errors, never as a panic or a 500.

use axum::extract::{FromRequest, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use referd_core::validate::FieldErrors;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Largest request body accepted: 1 MiB, far above any real Partnero request.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct Params {
    map: Map<String, Value>,
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let mut map = Map::new();
        if let Some(query) = req.uri().query() {
            insert_pairs(&mut map, form_urlencoded::parse(query.as_bytes()));
        }
        let declared_len = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared_len.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(ApiError::PayloadTooLarge);
        }
        let is_form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::PayloadTooLarge)?;
        // A body that starts like JSON is JSON whatever its Content-Type says: `curl -d`
        // labels everything as a form.
        let looks_like_json = bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{' || *b == b'[');
        let body = if is_form && !looks_like_json {
            let mut m = Map::new();
            insert_pairs(&mut m, form_urlencoded::parse(&bytes));
            m
        } else {
            parse_json_body(&bytes)?
        };
        for (k, v) in body {
            merge(&mut map, k, v);
        }
        Ok(Self { map })
    }
}

/// Reads a body as a JSON object; empty, `[]` and `null` are no parameters.
fn parse_json_body(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(Value::Array(a)) if a.is_empty() => Ok(Map::new()),
        Ok(_) => Err(ApiError::BadRequest(
            "The request body must be a JSON object.".into(),
        )),
        Err(e) => Err(ApiError::BadRequest(format!(
            "The request body is not valid JSON: {e}"
        ))),
    }
}

/// Deep merge: objects merge key by key, anything else replaces.
fn merge(into: &mut Map<String, Value>, key: String, value: Value) {
    match (into.get_mut(&key), value) {
        (Some(Value::Object(existing)), Value::Object(incoming)) => {
            for (k, v) in incoming {
                merge(existing, k, v);
            }
        }
        (_, value) => {
            into.insert(key, value);
        }
    }
}

/// Inserts `a[b][c]=v`, `a.b=v` and `a[]=v` pairs as nested values.
fn insert_pairs<'a>(
    map: &mut Map<String, Value>,
    pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
) {
    for (name, value) in pairs {
        let segments = split_name(&name);
        if segments.is_empty() {
            continue;
        }
        insert_path(map, &segments, Value::String(value.into_owned()));
    }
}

/// `partner[key]` → [partner, key]; `partner.key` → [partner, key]; `tags[]` → [tags, ""].
fn split_name(name: &str) -> Vec<String> {
    let (head, rest) = match name.find('[') {
        Some(i) if name.ends_with(']') => (&name[..i], Some(&name[i..])),
        _ => (name, None),
    };
    let mut segments: Vec<String> = head
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(rest) = rest {
        for part in rest
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split("][")
        {
            segments.push(part.to_string());
        }
    }
    segments
}

fn insert_path(map: &mut Map<String, Value>, segments: &[String], value: Value) {
    let (first, rest) = (&segments[0], &segments[1..]);
    if rest.is_empty() {
        map.insert(first.clone(), value);
        return;
    }
    if rest.len() == 1 && rest[0].is_empty() {
        // `tags[]=a&tags[]=b`: append to an array.
        let entry = map
            .entry(first.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if !entry.is_array() {
            *entry = Value::Array(Vec::new());
        }
        if let Value::Array(items) = entry {
            items.push(value);
        }
        return;
    }
    let entry = map
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(inner) = entry {
        insert_path(inner, rest, value);
    }
}

impl Params {
    pub fn from_map(map: Map<String, Value>) -> Self {
        Self { map }
    }

    /// The value at a nested path, or its flattened spellings (`a_b`, `a.b`) at the top
    /// level; `null` counts as absent.
    pub fn get(&self, path: &[&str]) -> Option<&Value> {
        let nested = path
            .iter()
            .try_fold(None::<&Value>, |cur, seg| match cur {
                None => self.map.get(*seg).map(Some),
                Some(Value::Object(m)) => m.get(*seg).map(Some),
                Some(_) => None,
            })
            .flatten();
        let found = nested.or_else(|| {
            if path.len() < 2 {
                return None;
            }
            self.map
                .get(&path.join("_"))
                .or_else(|| self.map.get(&path.join(".")))
        });
        found.filter(|v| !v.is_null())
    }

    pub fn contains(&self, path: &[&str]) -> bool {
        self.get(path).is_some()
    }

    /// A nested object (e.g. `update`) as parameters of its own, if present and an object.
    pub fn object(&self, key: &str) -> Option<Params> {
        match self.map.get(key) {
            Some(Value::Object(m)) => Some(Params { map: m.clone() }),
            _ => None,
        }
    }

    /// A string; numbers are accepted as their decimal text (clients send numeric ids).
    pub fn string(&self, path: &[&str], errors: &mut FieldErrors) -> Option<String> {
        match self.get(path)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => {
                let field = path.join(".");
                errors.add(&field, format!("The {field} field must be a string."));
                None
            }
        }
    }

    /// A whole number; numeric strings are accepted (query parameters are strings).
    pub fn integer(&self, path: &[&str], errors: &mut FieldErrors) -> Option<i64> {
        let v = self.get(path)?;
        let parsed = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        if parsed.is_none() {
            let field = path.join(".");
            errors.add(&field, format!("The {field} field must be an integer."));
        }
        parsed
    }

    /// An object given as a nested value: `referring_customer: {...}` or its flat spellings
    /// (`referring_customer.id`, `referring_customer_id`) are handled by [`Params::get`];
    /// this reports a scalar where an object belongs.
    pub fn expect_object(&self, key: &str, errors: &mut FieldErrors) -> bool {
        match self.map.get(key) {
            None | Some(Value::Null) | Some(Value::Object(_)) => true,
            Some(Value::Array(a)) if a.is_empty() => true,
            Some(_) => {
                errors.add(key, format!("The {key} field must be an object."));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn from_query(q: &str) -> Params {
        let mut map = Map::new();
        insert_pairs(&mut map, form_urlencoded::parse(q.as_bytes()));
        Params { map }
    }

    #[test]
    fn nested_spellings_are_equivalent() {
        for q in [
            "partner.key=k1",
            "partner_key=k1",
            "partner%5Bkey%5D=k1",
            "partner[key]=k1",
        ] {
            let p = from_query(q);
            let mut e = FieldErrors::new();
            assert_eq!(
                p.string(&["partner", "key"], &mut e).as_deref(),
                Some("k1"),
                "{q}"
            );
        }
    }

    #[test]
    fn arrays_from_brackets() {
        let p = from_query("tags[]=a&tags[]=b");
        assert_eq!(p.get(&["tags"]), Some(&json!(["a", "b"])));
    }

    #[test]
    fn bodies() {
        assert!(parse_json_body(b"").unwrap().is_empty());
        assert!(parse_json_body(b" [] ").unwrap().is_empty());
        assert!(parse_json_body(b"null").unwrap().is_empty());
        assert!(parse_json_body(b"[1]").is_err());
        assert!(parse_json_body(b"\"x\"").is_err());
        assert!(parse_json_body(b"{\"a\":").is_err());
        assert_eq!(parse_json_body(b"{\"a\":1}").unwrap()["a"], json!(1));
    }

    #[test]
    fn merge_prefers_body_and_merges_objects() {
        let mut m = Map::new();
        insert_pairs(&mut m, form_urlencoded::parse(b"limit=5&partner[key]=q"));
        merge(&mut m, "limit".into(), json!(10));
        merge(&mut m, "partner".into(), json!({"email": "e@x.co"}));
        let p = Params { map: m };
        assert_eq!(p.get(&["limit"]), Some(&json!(10)));
        assert_eq!(p.get(&["partner", "key"]), Some(&json!("q")));
        assert_eq!(p.get(&["partner", "email"]), Some(&json!("e@x.co")));
    }

    #[test]
    fn null_is_absent_and_types_are_checked() {
        let p = Params::from_map(
            json!({"id": null, "n": 5, "o": {"a": 1}, "s": "7"})
                .as_object()
                .unwrap()
                .clone(),
        );
        let mut e = FieldErrors::new();
        assert_eq!(p.string(&["id"], &mut e), None);
        assert_eq!(p.string(&["n"], &mut e).as_deref(), Some("5"));
        assert_eq!(p.integer(&["s"], &mut e), Some(7));
        assert!(e.is_empty());
        assert_eq!(p.string(&["o"], &mut e), None);
        assert!(!e.is_empty());
    }
}
