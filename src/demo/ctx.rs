//! What a demo handler knows about its request ([`Ctx`]: state, faults,
//! caller), shared by the route table (`backend.rs`) and the handlers
//! (`api.rs`, `trips.rs`).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::http::{HeaderMap, Request, StatusCode, header};

use super::envelope::{ApiError, Fields, Leak, json_object};
use super::store::UserIdx;
use super::{DemoState, Faults};

/// What a handler knows about its request.
pub(super) struct Ctx {
    pub state: DemoState,
    pub faults: Arc<Faults>,
    bearer: Option<String>,
}

impl Ctx {
    pub fn new(state: DemoState, faults: Arc<Faults>, headers: &HeaderMap) -> Ctx {
        Ctx {
            state,
            faults,
            bearer: bearer_token(headers),
        }
    }

    /// A 5xx envelope that leaks debug output when the `leak_errors` fault is on.
    pub fn server_error(&self, status: StatusCode, code: &'static str, message: &str) -> ApiError {
        ApiError::server(status, code, message, self.faults.leak_errors)
    }

    /// 500 `INTERNAL_ERROR`, leaky when `leak_errors` is on.
    pub fn internal(&self) -> ApiError {
        ApiError::internal(self.faults.leak_errors)
    }

    /// Reads a JSON object body; with `leak_errors`, JSON that does not even
    /// parse is a debug-mode 500 traceback instead of the 400.
    pub fn json(&self, req: &Request<Bytes>) -> Result<Fields, ApiError> {
        json_object(req.body()).map_err(|e| {
            let unparsable = serde_json::from_slice::<serde::de::IgnoredAny>(req.body()).is_err();
            if self.faults.leak_errors && unparsable {
                ApiError::debug_page(Leak::MalformedJson, req.method(), req.uri().path())
            } else {
                e
            }
        })
    }

    /// Fails like every database-backed endpoint when the `db_down` fault is on.
    pub fn db(&self) -> Result<(), ApiError> {
        if self.faults.db_down {
            Err(self.internal())
        } else {
            Ok(())
        }
    }

    /// The authenticated caller. A missing token is refused before the database
    /// is consulted; an unknown or expired one after.
    pub fn user(&self) -> Result<UserIdx, ApiError> {
        let token = self.bearer.as_deref().ok_or_else(ApiError::unauthorized)?;
        self.db()?;
        self.state
            .store()
            .session_user(token, Instant::now())
            .ok_or_else(ApiError::unauthorized)
    }

    /// The caller if it sent a valid token; anonymous otherwise (optional auth).
    pub fn viewer(&self) -> Option<UserIdx> {
        let token = self.bearer.as_deref()?;
        self.state.store().session_user(token, Instant::now())
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}
