//! The demo backend's response conventions: the `{"success","data","error"}`
//! envelope, [`ApiError`] (what every handler returns on failure), FastAPI's bare
//! `{"detail": …}` answers, and reading a JSON body into checked fields with
//! ContraVento's Spanish, pydantic-style validation messages.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// A failed request, rendered as an error envelope.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    /// Debug output a misconfigured backend leaks (traceback, SQL).
    detail: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            detail: None,
        }
    }

    /// 400 `VALIDATION_ERROR` about `field` with ContraVento's own message.
    pub fn validation(field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.to_owned()),
            ..ApiError::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
        }
    }

    /// The same error under another code (e.g. a 400 `USERNAME_TAKEN` with its field).
    pub fn with_code(self, code: &'static str) -> ApiError {
        ApiError { code, ..self }
    }

    /// 400 `VALIDATION_ERROR` as the backend words pydantic's errors.
    pub fn invalid_field(field: &str, reason: &str) -> ApiError {
        ApiError::validation(
            field,
            format!("Error de validación en el campo '{field}': {reason}"),
        )
    }

    pub fn missing_field(field: &str) -> ApiError {
        ApiError::invalid_field(field, "Field required")
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Token de autenticación inválido o expirado",
        )
    }

    pub fn forbidden(message: &str) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    pub fn trip_not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "Viaje no encontrado")
    }

    /// A 5xx; with `leak` it carries the traceback a debug-mode backend would show.
    pub fn server(status: StatusCode, code: &'static str, message: &str, leak: bool) -> ApiError {
        ApiError {
            detail: leak.then(|| LEAKED_TRACEBACK.to_owned()),
            ..ApiError::new(status, code, message)
        }
    }

    pub fn internal(leak: bool) -> ApiError {
        ApiError::server(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "Error interno del servidor",
            leak,
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        if let Some(detail) = self.detail {
            error["detail"] = json!(detail);
        }
        let body = json!({"success": false, "data": null, "error": error});
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

const LEAKED_TRACEBACK: &str = r#"Traceback (most recent call last):
  File "/app/src/main.py", line 118, in dispatch
    response = await call_next(request)
  File "/app/src/services/trip_service.py", line 412, in get_public_trips
    result = await self.db.execute(query)
  File "/usr/local/lib/python3.12/site-packages/sqlalchemy/ext/asyncio/session.py", line 461, in execute
    result = await greenlet_spawn(
sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection to server at "postgres" (172.18.0.3), port 5432 failed: Connection refused
[SQL: SELECT trips.trip_id, trips.user_id, trips.title, trips.status, trips.published_at FROM trips WHERE trips.status = %(status_1)s ORDER BY trips.published_at DESC LIMIT %(param_1)s OFFSET %(param_2)s]
[parameters: {'status_1': 'published', 'param_1': 20, 'param_2': 0}]
(Background on this error at: https://sqlalche.me/e/20/e3q8)"#;

/// The success envelope as a JSON value (for the odd response that adds a field).
pub(super) fn envelope(data: Value) -> Value {
    json!({"success": true, "data": data, "error": null})
}

/// A success envelope around `data`.
pub(super) fn success(status: StatusCode, data: Value) -> Response {
    (status, Json(envelope(data))).into_response()
}

/// FastAPI's own answers (routing errors, static files): `{"detail": "…"}`.
pub(super) fn detail(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"detail": message}))).into_response()
}

/// The fields of a JSON object body.
pub(super) struct Fields(Map<String, Value>);

/// Reads a JSON object body; malformed JSON or a non-object is a 400 like any
/// other validation error.
pub(super) fn json_object(body: &[u8]) -> Result<Fields, ApiError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(Fields(map)),
        Ok(_) => Err(ApiError::invalid_field(
            "body",
            "Input should be a valid dictionary or object to extract fields from",
        )),
        Err(_) => Err(ApiError::invalid_field("body", "JSON decode error")),
    }
}

impl Fields {
    pub fn required_str(&self, name: &str) -> Result<&str, ApiError> {
        self.optional_str(name)?
            .ok_or_else(|| ApiError::missing_field(name))
    }

    /// `None` when absent or null.
    pub fn optional_str(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::invalid_field(
                name,
                "Input should be a valid string",
            )),
        }
    }

    pub fn optional_number(&self, name: &str) -> Result<Option<f64>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(_) => Err(ApiError::invalid_field(
                name,
                "Input should be a valid number",
            )),
        }
    }

    /// The elements of an optional array (empty when absent or null).
    pub fn optional_array(&self, name: &str) -> Result<&[Value], ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(ApiError::invalid_field(
                name,
                "Input should be a valid list",
            )),
        }
    }
}
