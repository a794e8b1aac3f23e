//! Why an attempt got no usable answer: the step failure a request step or a
//! built-in check reports, and how a network error or an error envelope
//! becomes one. Below the runner and the checks, so neither imports the other.

use super::Reason;
use super::shorten::shorten;
use crate::net::http::{ErrorKind, HttpError};

/// Why an attempt produced no response.
pub(crate) struct Failure {
    pub reason: Reason,
    pub message: String,
    /// Polling must not try again (a refused credential).
    pub final_: bool,
}

impl Failure {
    pub(crate) fn new(reason: Reason, message: impl Into<String>) -> Self {
        Failure {
            reason,
            message: message.into(),
            final_: false,
        }
    }
}

/// The network layer's error as a step failure.
pub(crate) fn failure_of(e: HttpError) -> Failure {
    let reason = match e.kind {
        ErrorKind::Dns => Reason::Dns,
        ErrorKind::Connect => Reason::Connect,
        ErrorKind::Tls => Reason::Tls,
        ErrorKind::Timeout => Reason::Timeout,
        ErrorKind::Protocol => Reason::Protocol,
        ErrorKind::BodyTooLarge => Reason::BodyTooLarge,
        ErrorKind::Request => Reason::Request,
    };
    Failure::new(reason, shorten(&e.message))
}

/// The envelope's `error.code` (`INVALID_CREDENTIALS`), when it is a short
/// identifier: safe to show and to store.
pub(crate) fn error_code(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/code")
                .and_then(|c| c.as_str())
                .map(str::to_string)
        })
        .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}
