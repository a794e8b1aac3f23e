//! The demo FastAPI backend as nginx reaches it (paths without `/api`): the route
//! table, Starlette's routing answers (404, 405 with `Allow`, the 307
//! trailing-slash redirect that loses nginx's `/api` prefix), and the dispatch
//! to the handlers, each given a [`Ctx`] (state, faults, caller).

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ctx::Ctx;
use super::envelope::{ApiError, Leak, detail};
use super::{DemoState, Faults, api, envelope, trips};

#[derive(Clone, Copy, Debug)]
enum Endpoint<'a> {
    Health,
    OpenApi,
    SwaggerUi,
    Redoc,
    Register,
    Login,
    CyclingTypes,
    PublicFeed,
    CreateTrip,
    GetTrip(&'a str),
    DeleteTrip(&'a str),
    Publish(&'a str),
    UploadPhoto(&'a str),
    UserTrips(&'a str),
    Tags,
}

/// The routes whose path pattern matches `path`, in declaration order (Starlette
/// takes the first whose method also matches, so `GET /trips/public` is the feed
/// while `DELETE /trips/public` is a delete of trip "public").
fn routes(path: &str) -> Vec<(Method, Endpoint<'_>)> {
    use Endpoint::*;
    let Some(rest) = path.strip_prefix('/') else {
        return Vec::new();
    };
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        ["health"] => vec![(Method::GET, Health)],
        ["openapi.json"] => vec![(Method::GET, OpenApi)],
        ["docs"] => vec![(Method::GET, SwaggerUi)],
        ["redoc"] => vec![(Method::GET, Redoc)],
        ["auth", "register"] => vec![(Method::POST, Register)],
        ["auth", "login"] => vec![(Method::POST, Login)],
        ["cycling-types"] => vec![(Method::GET, CyclingTypes)],
        ["tags"] => vec![(Method::GET, Tags)],
        ["feed"] => vec![(Method::GET, PublicFeed)],
        ["trips"] => vec![(Method::POST, CreateTrip)],
        ["trips", id] if !id.is_empty() => {
            let mut found = Vec::with_capacity(3);
            if *id == "public" {
                found.push((Method::GET, PublicFeed));
            }
            found.push((Method::GET, GetTrip(id)));
            found.push((Method::DELETE, DeleteTrip(id)));
            found
        }
        ["trips", id, "publish"] if !id.is_empty() => vec![(Method::POST, Publish(id))],
        ["trips", id, "photos"] if !id.is_empty() => vec![(Method::POST, UploadPhoto(id))],
        ["users", username, "trips"] if !username.is_empty() => {
            vec![(Method::GET, UserTrips(username))]
        }
        _ => Vec::new(),
    }
}

/// Handles one request that nginx proxied; `path` is the request path without `/api`.
pub(super) async fn handle(
    state: &DemoState,
    faults: Arc<Faults>,
    req: Request<Bytes>,
    path: &str,
) -> Response {
    let mut candidates = routes(path);
    if !faults.docs_public {
        // Production turns FastAPI's docs pages off (only `/openapi.json` stays).
        candidates.retain(|(_, e)| !matches!(e, Endpoint::SwaggerUi | Endpoint::Redoc));
    }
    let Some(endpoint) = candidates
        .iter()
        .find(|(method, _)| method == req.method())
        .map(|(_, endpoint)| *endpoint)
    else {
        if faults.leak_errors {
            // A debug-mode backend whose 404/405 handling blows up.
            let leak = if candidates.is_empty() {
                Leak::UnknownPath
            } else {
                Leak::WrongMethod
            };
            // The trailing-slash redirect still works: only real errors leak.
            let redirects = candidates.is_empty()
                && path
                    .strip_suffix('/')
                    .is_some_and(|p| !p.is_empty() && !routes(p).is_empty());
            if !redirects {
                return ApiError::debug_page(leak, req.method(), path).into_response();
            }
        }
        return unrouted(&candidates, path, req.uri().query(), &req);
    };
    let ctx = Ctx::new(state.clone(), faults, req.headers());
    let result = match endpoint {
        Endpoint::Health => Ok(api::health()),
        Endpoint::OpenApi => Ok(api::openapi()),
        Endpoint::Register => api::register(&ctx, &req),
        Endpoint::SwaggerUi => Ok(api::swagger_ui()),
        Endpoint::Redoc => Ok(api::redoc()),
        Endpoint::Login => api::login(&ctx, &req).await,
        Endpoint::CyclingTypes => api::cycling_types(&ctx),
        Endpoint::PublicFeed => trips::public_feed(&ctx, req.uri().query()),
        Endpoint::CreateTrip => trips::create_trip(&ctx, &req),
        Endpoint::GetTrip(id) => trips::get_trip(&ctx, id),
        Endpoint::DeleteTrip(id) => trips::delete_trip(&ctx, id),
        Endpoint::Publish(id) => trips::publish_trip(&ctx, id),
        Endpoint::UploadPhoto(id) => trips::upload_photo(&ctx, req, id).await,
        Endpoint::UserTrips(username) => trips::user_trips(&ctx, username, req.uri().query()),
        Endpoint::Tags => trips::list_tags(&ctx),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Starlette's answers when no route takes the request: 405 when the path exists
/// with other methods (so `HEAD /health` is 405: FastAPI routes have no implicit
/// HEAD), a 307 to the path without its trailing slash when that one exists —
/// built from the Host header and the path the backend saw, hence without `/api` —
/// and 404 otherwise.
fn unrouted(
    candidates: &[(Method, Endpoint<'_>)],
    path: &str,
    query: Option<&str>,
    req: &Request<Bytes>,
) -> Response {
    if !candidates.is_empty() {
        let mut allow: Vec<&str> = candidates.iter().map(|(m, _)| m.as_str()).collect();
        allow.dedup();
        let mut resp = detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
            resp.headers_mut().insert(header::ALLOW, value);
        }
        return resp;
    }
    let without_slash = path.strip_suffix('/').filter(|p| !p.is_empty());
    if let Some(target) = without_slash.filter(|p| !routes(p).is_empty()) {
        let target = match query {
            Some(q) => format!("{target}?{q}"),
            None => target.to_owned(),
        };
        return envelope::with_location(
            StatusCode::TEMPORARY_REDIRECT.into_response(),
            &envelope::absolute_url(req.headers(), req.extensions(), &target),
        );
    }
    detail(StatusCode::NOT_FOUND, "Not Found")
}
