//! Request parameters as real Partnero clients send them (spec §1.3):
//! - the query string and the body are merged for every method, GET and DELETE included
//!   (the PHP SDK sends list filters in GET bodies); the body wins on a clash;
//! - a body that is empty, `[]` (PHP's empty array) or `null` is no parameters;
//! - JSON and `application/x-www-form-urlencoded` bodies are read (a body starting with `{`
//!   or `[` is JSON whatever its Content-Type);
//! - nested names may be written `partner.key`, `partner[key]` or `partner_key`;
//! - a JSON `null` and an empty string are "not provided";
//! - text containing a NUL character is refused (PostgreSQL cannot store it).
//!
//! Typed getters report wrong types as 422 field errors, never as a panic or a 500.

use axum::extract::{FromRequest, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use referd_core::validate::FieldErrors;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Largest request body accepted: 1 MiB, far above any real Partnero request.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Deepest nesting a parameter name may spell (`a[b][c]`, `a.b.c`). Real clients use two
/// levels; the limit keeps a hostile name from building (and recursing through) a value
/// hundreds of thousands of levels deep.
const MAX_NAME_DEPTH: usize = 8;

#[derive(Debug, Clone, Default)]
pub struct Params {
    map: Map<String, Value>,
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let mut map = Map::new();
        if let Some(query) = req.uri().query() {
            insert_pairs(&mut map, form_urlencoded::parse(query.as_bytes()))?;
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
            insert_pairs(&mut m, form_urlencoded::parse(&bytes))?;
            m
        } else {
            expand_flat_keys(parse_json_body(&bytes)?)?
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
) -> Result<(), ApiError> {
    for (name, value) in pairs {
        let segments = checked_segments(&name)?;
        if segments.is_empty() {
            continue;
        }
        insert_path(map, &segments, Value::String(value.into_owned()));
    }
    Ok(())
}

fn checked_segments(name: &str) -> Result<Vec<String>, ApiError> {
    // Count separators before splitting, so a hostile name costs nothing to refuse.
    let depth = name.matches('.').count() + name.matches('[').count();
    if depth >= MAX_NAME_DEPTH {
        return Err(ApiError::BadRequest(format!(
            "Parameter names may nest at most {MAX_NAME_DEPTH} levels deep."
        )));
    }
    Ok(split_name(name))
}

/// Top-level JSON keys written `a.b` or `a[b]` become nested values, exactly as in a query
/// string, so `{"referring_customer[id]": "x"}` and `{"update.name": "y"}` mean what they say.
fn expand_flat_keys(body: Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for (key, value) in body {
        if key.contains('.') || key.contains('[') {
            let segments = checked_segments(&key)?;
            if !segments.is_empty() {
                let mut nested = Map::new();
                insert_path(&mut nested, &segments, value);
                for (k, v) in nested {
                    merge(&mut out, k, v);
                }
            }
        } else {
            merge(&mut out, key, value);
        }
    }
    Ok(out)
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
        // Null and "" both mean "not provided" (Laravel's ConvertEmptyStringsToNull): an
        // empty cookie value or an empty form field must not become a lookup of "".
        found.filter(|v| !v.is_null() && v.as_str() != Some(""))
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
            Value::String(s) if s.contains('\0') => {
                let field = path.join(".");
                errors.add(
                    &field,
                    format!("The {field} field must not contain NUL characters."),
                );
                None
            }
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

    /// A boolean: `true`/`false`, `1`/`0`, or those as strings (form bodies and query strings
    /// carry only text).
    pub fn boolean(&self, path: &[&str], errors: &mut FieldErrors) -> Option<bool> {
        let parsed = match self.get(path)? {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_i64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            let field = path.join(".");
            errors.add(&field, format!("The {field} field must be true or false."));
        }
        parsed
    }

    /// A list of strings (`tags`): a JSON array of strings or numbers, `tags[]=a&tags[]=b`,
    /// or one string as a list of one. `[]` is an empty list (it clears); absent is `None`.
    pub fn string_list(&self, path: &[&str], errors: &mut FieldErrors) -> Option<Vec<String>> {
        let field = path.join(".");
        match self.get(path)? {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) if s.contains('\0') => errors.add(
                            format!("{field}.{i}"),
                            format!("The {field}.{i} field must not contain NUL characters."),
                        ),
                        Value::String(s) => out.push(s.clone()),
                        Value::Number(n) => out.push(n.to_string()),
                        Value::Null => {}
                        _ => errors.add(
                            format!("{field}.{i}"),
                            format!("The {field}.{i} field must be a string."),
                        ),
                    }
                }
                Some(out)
            }
            Value::String(s) if !s.contains('\0') => Some(vec![s.clone()]),
            _ => {
                errors.add(
                    &field,
                    format!("The {field} field must be an array of strings."),
                );
                None
            }
        }
    }

    /// Whether any of these top-level parameters was given (even as `null`).
    pub fn has_any(&self, names: &[&str]) -> bool {
        names.iter().any(|n| self.map.contains_key(*n))
    }

    /// The top-level map (for settings objects passed on whole).
    pub fn raw_object(&self, key: &str) -> Option<&Map<String, Value>> {
        match self.map.get(key) {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        }
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
        insert_pairs(&mut map, form_urlencoded::parse(q.as_bytes())).unwrap();
        Params { map }
    }

    #[test]
    fn hostile_nesting_is_refused_cheaply() {
        let mut map = Map::new();
        let name = format!("a{}", ".b".repeat(500_000));
        let pairs = vec![(std::borrow::Cow::from(name), std::borrow::Cow::from("v"))];
        assert!(insert_pairs(&mut map, pairs.into_iter()).is_err());
        let name = format!("a{}", "[b]".repeat(50));
        let body: Map<String, Value> = [(name, json!(1))].into_iter().collect();
        assert!(expand_flat_keys(body).is_err());
    }

    #[test]
    fn flat_json_keys_are_expanded() {
        let body = json!({"referring_customer[id]": "r1", "update.name": "X", "email": "e"});
        let p = Params {
            map: expand_flat_keys(body.as_object().unwrap().clone()).unwrap(),
        };
        assert_eq!(p.get(&["referring_customer", "id"]), Some(&json!("r1")));
        assert_eq!(
            p.object("update").unwrap().get(&["name"]),
            Some(&json!("X"))
        );
    }

    #[test]
    fn empty_strings_and_nul() {
        let p = Params::from_map(
            json!({"a": "", "b": "x\u{0}y"})
                .as_object()
                .unwrap()
                .clone(),
        );
        let mut e = FieldErrors::new();
        assert_eq!(p.string(&["a"], &mut e), None);
        assert!(e.is_empty());
        assert_eq!(p.string(&["b"], &mut e), None);
        assert!(!e.is_empty());
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
        insert_pairs(&mut m, form_urlencoded::parse(b"limit=5&partner[key]=q")).unwrap();
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
