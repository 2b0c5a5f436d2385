//! The domain's error type. No HTTP here: `referd-api` maps each variant to a status code
//! in one place.

use crate::store::StoreError;
use crate::validate::FieldErrors;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Input that breaks a rule (422), by field.
    #[error("validation failed")]
    Validation(FieldErrors),
    /// The named thing does not exist in this program (404): "Customer not found".
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A state transition that does not apply, such as archiving an archived customer (400
    /// "Action failed", as Partnero answers).
    #[error("action failed")]
    ActionFailed,
    /// The endpoint exists but not for this program's type.
    #[error("not available for {0} programs")]
    WrongProgramType(&'static str),
    /// A request that names something unusable in a way Partnero answers with 400 rather
    /// than 422 (an unknown partner on an affiliate customer create).
    #[error("{0}")]
    BadRequest(String),
    /// A failure inside referd that is not the client's (logged, answered 500).
    #[error("internal error: {0}")]
    Internal(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(FieldErrors::single(field, message))
    }
}

impl From<FieldErrors> for CoreError {
    fn from(e: FieldErrors) -> Self {
        Self::Validation(e)
    }
}
