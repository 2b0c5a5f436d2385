//! Where an update's fields are. Partnero's reference wraps them in `update{…}`; the n8n node
//! and the Python SDK send them flat. In a flat body-addressed request (`PUT /v1/customers`
//! with `key`), the fields that found the record are not changes, so they are skipped.

use referd_core::validate::FieldErrors;

use crate::error::ApiError;
use crate::extract::Params;

pub struct UpdateFields<'s> {
    source: Params,
    /// `update.` for the wrapped form, `` for the flat one: field errors carry it.
    pub prefix: &'static str,
    skip: &'s [&'s str],
    errors: FieldErrors,
}

impl<'s> UpdateFields<'s> {
    /// The fields of `p`: its `update` object when there is one (a scalar `update` is a 422),
    /// else `p` itself without the `skip` names.
    pub fn of(p: &Params, skip: &'s [&'s str]) -> Result<Self, ApiError> {
        let mut errors = FieldErrors::new();
        if !p.expect_object("update", &mut errors) {
            return Err(errors.into());
        }
        Ok(match p.object("update") {
            Some(update) => Self {
                source: update,
                prefix: "update.",
                skip: &[],
                errors,
            },
            None => Self {
                source: p.clone(),
                prefix: "",
                skip,
                errors,
            },
        })
    }

    /// A string field, unless it addressed the record.
    pub fn string(&mut self, name: &str) -> Option<String> {
        if self.skip.contains(&name) {
            return None;
        }
        self.source.string(&[name], &mut self.errors)
    }

    /// A nested string (`metadata.date_of_birth`); never an addressing field.
    pub fn nested_string(&mut self, path: &[&str]) -> Option<String> {
        if let Some(first) = path.first() {
            self.source.expect_object(first, &mut self.errors);
        }
        self.source.string(path, &mut self.errors)
    }

    pub fn string_list(&mut self, name: &str) -> Option<Vec<String>> {
        self.source.string_list(&[name], &mut self.errors)
    }

    pub fn boolean(&mut self, name: &str) -> Option<bool> {
        self.source.boolean(&[name], &mut self.errors)
    }

    /// The type errors met while reading, each field name with the prefix.
    pub fn finish(self) -> Result<&'static str, ApiError> {
        if self.errors.is_empty() {
            return Ok(self.prefix);
        }
        let mut prefixed = FieldErrors::new();
        for (field, messages) in self.errors.iter() {
            for m in messages {
                prefixed.add(format!("{}{field}", self.prefix), m.clone());
            }
        }
        Err(prefixed.into())
    }
}
