//! The demo backend's response conventions: the `{"success","data","error"}`
//! envelope, [`ApiError`] (what every handler returns on failure), FastAPI's bare
//! `{"detail": …}` answers, and reading a JSON body into checked fields with
//! ContraVento's Spanish, pydantic-style validation messages.

use axum::Json;
use axum::http::header::{HOST, LOCATION};
use axum::http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, header};
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
    /// A whole debug-mode error page (plain text) instead of an envelope.
    page: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            detail: None,
            page: None,
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

    /// The 500 a backend left in debug mode answers (Starlette's
    /// `ServerErrorMiddleware(debug=True)`: the traceback as plain text) where a
    /// healthy one gives a 404, 405 or 400. Only with the `leak_errors` fault.
    pub fn debug_page(leak: Leak, method: &Method, path: &str) -> ApiError {
        ApiError {
            page: Some(leak.traceback(method, path)),
            ..ApiError::internal(true)
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
        if let Some(page) = self.page {
            return (
                self.status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                page,
            )
                .into_response();
        }
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

/// Which request a debug-mode backend fails on (see [`ApiError::debug_page`]).
#[derive(Clone, Copy, Debug)]
pub(super) enum Leak {
    /// A path no route matches (normally 404 `{"detail":"Not Found"}`).
    UnknownPath,
    /// A known path with the wrong method (normally 405).
    WrongMethod,
    /// A JSON body that does not parse (normally 400 `VALIDATION_ERROR`).
    MalformedJson,
}

impl Leak {
    /// The traceback: the request-audit middleware writes every request to the
    /// database and its failure surfaces, with the statement and the app's paths.
    fn traceback(self, method: &Method, path: &str) -> String {
        let cause = match self {
            Leak::UnknownPath => {
                r#"  File "/usr/local/lib/python3.12/site-packages/starlette/routing.py", line 754, in app
    await self.default(scope, receive, send)
  File "/app/src/api/errors.py", line 41, in not_found_handler
    await audit.record_miss(request.url.path)
  File "/app/src/services/audit_service.py", line 88, in record_miss
    await self.db.execute(insert(RequestLog).values(path=path, status=404))
sqlalchemy.exc.ProgrammingError: (psycopg2.errors.UndefinedTable) relation "request_log" does not exist
LINE 1: INSERT INTO request_log (path, status, created_at) VALUES (...
                    ^
[SQL: INSERT INTO request_log (path, status, created_at) VALUES (%(path)s, %(status)s, now())]"#
            }
            Leak::WrongMethod => {
                r#"  File "/usr/local/lib/python3.12/site-packages/starlette/routing.py", line 288, in handle
    await self.app(scope, receive, send)
  File "/app/src/api/errors.py", line 57, in method_not_allowed_handler
    await audit.record_miss(request.url.path)
  File "/app/src/services/audit_service.py", line 88, in record_miss
    await self.db.execute(insert(RequestLog).values(path=path, status=405))
sqlalchemy.exc.ProgrammingError: (psycopg2.errors.UndefinedTable) relation "request_log" does not exist
LINE 1: INSERT INTO request_log (path, status, created_at) VALUES (...
                    ^
[SQL: INSERT INTO request_log (path, status, created_at) VALUES (%(path)s, %(status)s, now())]"#
            }
            Leak::MalformedJson => {
                r#"  File "/app/src/api/auth.py", line 64, in login
    payload = await request.json()
  File "/usr/local/lib/python3.12/json/decoder.py", line 355, in raw_decode
    raise JSONDecodeError("Expecting value", s, err.value) from None
json.decoder.JSONDecodeError: Expecting value: line 1 column 11 (char 10)

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/src/services/audit_service.py", line 88, in record_failure
    await self.db.execute(text("SELECT users.user_id, users.hashed_password FROM users WHERE users.username = :login"))
sqlalchemy.exc.InvalidRequestError: A value is required for bind parameter 'login'
[SQL: SELECT users.user_id, users.hashed_password FROM users WHERE users.username = %(login)s]"#
            }
        };
        format!(
            "Traceback (most recent call last):\n  File \"/usr/local/lib/python3.12/site-packages/starlette/middleware/errors.py\", line 165, in __call__\n    await self.app(scope, receive, _send)\n  File \"/app/src/main.py\", line 118, in dispatch\n    response = await call_next(request)  # {method} {path}\n{cause}\n(Background on this error at: https://sqlalche.me/e/20/f405)\n"
        )
    }
}

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

/// Marks a request that arrived over TLS (redirect targets then use `https://`).
#[derive(Clone, Copy, Debug)]
pub(super) struct Https;

/// `http(s)://<Host header><path>`, as nginx and Starlette build redirect
/// targets (`https` when the request came in over TLS, see [`Https`]).
pub(super) fn absolute_url(headers: &HeaderMap, extensions: &Extensions, path: &str) -> String {
    let scheme = if extensions.get::<Https>().is_some() {
        "https"
    } else {
        "http"
    };
    match headers.get(HOST).and_then(|h| h.to_str().ok()) {
        Some(host) if !host.is_empty() => format!("{scheme}://{host}{path}"),
        _ => path.to_owned(),
    }
}

pub(super) fn with_location(mut resp: Response, location: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(LOCATION, value);
    }
    resp
}
