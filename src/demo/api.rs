//! Demo backend handlers that are not about trips: health, the OpenAPI document,
//! reference data, registration and login (with the account lockout), and the
//! demo's own count of the login attempts each account received.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::DemoState;
use super::ctx::Ctx;
use super::envelope::{ApiError, envelope, json_object, success};
use super::store::{LoginOutcome, MAX_USERS, TOKEN_TTL, User, naive_timestamp};
use crate::builtins::unix_now;

/// `GET /health`: never touches the database, so it stays healthy when the DB is
/// down; the timestamp has the real backend's doubled zone (`+00:00Z`).
pub(super) fn health() -> Response {
    let data = json!({
        "status": "healthy",
        "environment": "production",
        "timestamp": format!("{}+00:00Z", naive_timestamp(unix_now())),
    });
    success(StatusCode::OK, data)
}

/// FastAPI's `/docs` page (`get_swagger_ui_html`), for the `docs-public` fault.
pub(super) fn swagger_ui() -> Response {
    axum::response::Html(
        r##"<!DOCTYPE html>
<html>
<head>
<link type="text/css" rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
<link rel="shortcut icon" href="https://fastapi.tiangolo.com/img/favicon.png">
<title>ContraVento API - Swagger UI</title>
</head>
<body>
<div id="swagger-ui">
</div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>
const ui = SwaggerUIBundle({
    url: '/openapi.json',
    "dom_id": "#swagger-ui",
    "layout": "BaseLayout",
    "deepLinking": true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
})
</script>
</body>
</html>
"##,
    )
    .into_response()
}

/// FastAPI's `/redoc` page (`get_redoc_html`), for the `docs-public` fault.
pub(super) fn redoc() -> Response {
    axum::response::Html(
        r#"<!DOCTYPE html>
<html>
<head>
<title>ContraVento API - ReDoc</title>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1">
</head>
<body>
<noscript>ReDoc requires Javascript to function. Please enable it to browse the documentation.</noscript>
<redoc spec-url="/openapi.json"></redoc>
<script src="https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"></script>
</body>
</html>
"#,
    )
    .into_response()
}

/// `GET /openapi.json`: public in production, as on the real deployment.
pub(super) fn openapi() -> Response {
    let op = |summary: &str| json!({"summary": summary});
    Json(json!({
        "openapi": "3.1.0",
        "info": {"title": "ContraVento API", "version": "0.1.0"},
        "paths": {
            "/health": {"get": op("Health check")},
            "/auth/register": {"post": op("Register")},
            "/auth/login": {"post": op("Login")},
            "/cycling-types": {"get": op("List cycling types")},
            "/trips": {"post": op("Create trip")},
            "/trips/public": {"get": op("Public trips feed")},
            "/trips/{trip_id}": {"get": op("Get trip"), "delete": op("Delete trip")},
            "/trips/{trip_id}/publish": {"post": op("Publish trip")},
            "/trips/{trip_id}/photos": {"post": op("Upload trip photo")},
            "/users/{username}/trips": {"get": op("Get user trips with filters")},
            "/feed": {"get": op("Feed")},
            "/tags": {"get": op("List tags")},
        },
    }))
    .into_response()
}

const CYCLING_TYPES: [(&str, &str, &str); 6] = [
    (
        "bikepacking",
        "Bikepacking",
        "Viajes de varios días con equipaje ligero en la bici",
    ),
    (
        "commuting",
        "Desplazamiento urbano",
        "Trayectos diarios en bicicleta por ciudad",
    ),
    (
        "gravel",
        "Gravel",
        "Pistas y caminos de tierra con bicicleta gravel",
    ),
    (
        "mountain",
        "Montaña",
        "Rutas de montaña y senderos técnicos",
    ),
    ("road", "Carretera", "Rutas por carretera asfaltada"),
    (
        "touring",
        "Cicloturismo",
        "Viajes en bicicleta con alforjas",
    ),
];

/// `GET /cycling-types`: a bare list, read from the database.
pub(super) fn cycling_types(ctx: &Ctx) -> Result<Response, ApiError> {
    ctx.db()?;
    let list: Vec<Value> = CYCLING_TYPES
        .iter()
        .map(|(code, name, description)| {
            json!({"code": code, "display_name": name, "description": description})
        })
        .collect();
    Ok(Json(list).into_response())
}

fn validate_username(username: &str) -> Result<(), ApiError> {
    if !(3..=30).contains(&username.len()) {
        return Err(ApiError::validation(
            "username",
            "El nombre de usuario debe tener entre 3 y 30 caracteres",
        ));
    }
    if !username
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(ApiError::validation(
            "username",
            "El nombre de usuario solo puede contener letras, números y guiones bajos",
        ));
    }
    Ok(())
}

/// Top-level names the app's e-mail validation (pydantic's `EmailStr`, i.e.
/// the `email-validator` package) refuses as special-use or reserved: an
/// address on one of them, or on a name under one, can never receive mail.
/// `example` is not among them (RFC 6761 says to treat it normally), so
/// `@probe.example` and `@example.com` pass.
const SPECIAL_USE_DOMAINS: [&str; 6] = ["arpa", "invalid", "local", "localhost", "onion", "test"];

/// The app's e-mail validation: pydantic's wording after its "value is not a
/// valid email address: " prefix.
fn validate_email(email: &str) -> Result<(), ApiError> {
    let invalid = |why: &str| {
        Err(ApiError::invalid_field(
            "email",
            &format!("value is not a valid email address: {why}"),
        ))
    };
    let Some((local, domain)) = email.rsplit_once('@') else {
        return invalid("An email address must have an @-sign.");
    };
    if local.is_empty() {
        return invalid("There must be something before the @-sign.");
    }
    if email.len() > 254 || email.chars().any(char::is_whitespace) || local.contains('@') {
        return invalid("The email address contains invalid characters.");
    }
    if domain.is_empty() {
        return invalid("There must be something after the @-sign.");
    }
    let domain = domain.to_ascii_lowercase();
    let labels_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    });
    if !labels_ok {
        return invalid("The part after the @-sign is not valid.");
    }
    // In email-validator's order: the period (so `@localhost` fails here),
    // the top-level domain, then the special-use names.
    if !domain.contains('.') {
        return invalid("The part after the @-sign is not valid. It should have a period.");
    }
    if !domain.ends_with(|c: char| c.is_ascii_alphabetic()) {
        return invalid("The part after the @-sign is not within a valid top-level domain.");
    }
    if SPECIAL_USE_DOMAINS
        .iter()
        .any(|s| domain == *s || domain.ends_with(&format!(".{s}")))
    {
        return invalid(
            "The part after the @-sign is a special-use or reserved name that cannot be used with email.",
        );
    }
    Ok(())
}

fn validate_password(password: &str) -> Result<(), ApiError> {
    let chars = password.chars().count();
    if !(8..=128).contains(&chars) {
        return Err(ApiError::validation(
            "password",
            "La contraseña debe tener entre 8 y 128 caracteres",
        ));
    }
    let strong = password.chars().any(char::is_uppercase)
        && password.chars().any(char::is_lowercase)
        && password.chars().any(|c| c.is_ascii_digit())
        && password.chars().any(|c| !c.is_alphanumeric());
    if !strong {
        return Err(ApiError::validation(
            "password",
            "La contraseña debe contener mayúsculas, minúsculas, números y símbolos",
        ));
    }
    Ok(())
}

fn user_json(user: &User) -> Value {
    json!({
        "user_id": user.user_id,
        "username": user.username,
        "email": user.email,
        "is_verified": user.is_verified,
        "is_active": true,
        "profile_visibility": "public",
        "trip_visibility": "public",
        "created_at": user.created_at,
    })
}

/// `POST /auth/register`: 201 with an unverified user (who therefore cannot log in).
pub(super) fn register(ctx: &Ctx, req: &Request<Bytes>) -> Result<Response, ApiError> {
    let fields = ctx.json(req)?;
    let username = fields.required_str("username")?;
    let email = fields.required_str("email")?;
    let password = fields.required_str("password")?;
    validate_username(username)?;
    validate_email(email)?;
    validate_password(password)?;
    ctx.db()?;
    let mut store = ctx.state.store();
    if store.users.len() >= MAX_USERS {
        return Err(ctx.internal());
    }
    if store.username_taken(username) {
        return Err(
            ApiError::validation("username", "El nombre de usuario ya está en uso")
                .with_code("USERNAME_TAKEN"),
        );
    }
    if store.email_taken(email) {
        return Err(
            ApiError::validation("email", "El email ya está registrado").with_code("EMAIL_TAKEN")
        );
    }
    let user = store.add_user(username, email, password, false, unix_now());
    let mut body = envelope(user_json(&store.users[user]));
    body["message"] = json!("Usuario registrado. Revisa tu email para verificar tu cuenta.");
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `POST /auth/login` with `{"login": <username or email>, "password"}`.
///
/// An existing account's password check costs [`DemoState::login_cost`]
/// (bcrypt on the real backend) and an unknown user's nothing, so the
/// answer time tells which usernames exist — unless `login_constant_time`
/// makes every login pay it. Waited for without holding the store.
pub(super) async fn login(ctx: &Ctx, req: &Request<Bytes>) -> Result<Response, ApiError> {
    let fields = ctx.json(req)?;
    let login = fields.required_str("login")?;
    let password = fields.required_str("password")?;
    ctx.db()?;
    let exists = ctx.state.store().find_login(login).is_some();
    let cost = ctx.state.login_cost(&ctx.faults);
    if (exists || ctx.faults.login_constant_time) && !cost.is_zero() {
        tokio::time::sleep(cost).await;
    }
    let invalid = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_CREDENTIALS",
            "Usuario o contraseña incorrectos",
        )
    };
    let now = Instant::now();
    let mut store = ctx.state.store();
    // An unknown login is a plain 401 and locks nothing.
    let user = store.find_login(login).ok_or_else(invalid)?;
    match store.attempt_login(user, password, now) {
        LoginOutcome::Ok => {}
        LoginOutcome::WrongPassword => return Err(invalid()),
        LoginOutcome::Locked => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "ACCOUNT_LOCKED",
                "Cuenta bloqueada temporalmente por demasiados intentos fallidos. \
                 Inténtalo de nuevo en 15 minutos",
            ));
        }
    }
    if !store.users[user].is_verified {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "EMAIL_NOT_VERIFIED",
            "Debes verificar tu email antes de iniciar sesión",
        ));
    }
    // The `token-ttl` fault shortens the life of tokens issued while it is on.
    let ttl = ctx.faults.token_ttl.unwrap_or(TOKEN_TTL);
    let (access_token, refresh_token) = store.issue_session(user, now, ttl);
    let data = json!({
        "access_token": access_token,
        "refresh_token": refresh_token,
        "token_type": "bearer",
        // Whole seconds, rounded down: a sub-second `token-ttl` says 0.
        "expires_in": ttl.as_secs(),
        "user": user_json(&store.users[user]),
    });
    Ok(success(StatusCode::OK, data))
}

/// Counts a `POST /auth/login` for the account its `login` names (and its
/// password if wrong), before anything answers it — so the count holds
/// requests answered by an injected error or `db-down` too. A body that is
/// not a JSON object, or names no account, counts nowhere.
pub(super) fn note_login_attempt(state: &DemoState, body: &[u8]) {
    let Ok(fields) = json_object(body) else {
        return;
    };
    let Ok(Some(login)) = fields.optional_str("login") else {
        return;
    };
    let password = fields.optional_str("password").ok().flatten();
    let mut store = state.store();
    if let Some(user) = store.find_login(login) {
        store.note_login_attempt(user, password);
    }
}
