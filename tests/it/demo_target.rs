//! The demo target against the ContraVento contract (docs: contravento-api.md),
//! over real HTTP and TLS on loopback: topology (nginx + backend), envelopes,
//! auth and lockout, the trip/photo/feed lifecycle, CORS, security headers,
//! frontend delivery, leaky errors, upload trust, TLS certificates and the
//! HTTP → HTTPS redirect, every injectable fault, runtime fault switching and
//! the `--fault` spec parser.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{self, HeaderMap};
use reqwest::multipart::{Form, Part};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};
use smokeprobe::demo::{
    CorsMode, DemoOptions, DemoServer, ErrorFault, FaultSpec, Faults, HeaderProfile, HstsMode,
    LatencyFault, OTHER_USERNAME, RedirectMode, TlsMode,
};
use smokeprobe::imagegen::{self, ImageFormat};

use crate::common::{demo, demo_with};

const ALLOWED_ORIGIN: &str = "https://contravento.example";
const EVIL_ORIGIN: &str = "https://evil.example";
const SECURITY_HEADERS: [&str; 4] = [
    "x-frame-options",
    "x-content-type-options",
    "x-xss-protection",
    "referrer-policy",
];

/// A plain-HTTP client: reqwest is built without a default crypto provider, so
/// it gets a TLS configuration (ring, no roots) it will never use on loopback.
fn client() -> Client {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Status and JSON body of a response.
async fn json_of(resp: Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, body)
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn error_field(body: &Value) -> &str {
    body["error"]["field"].as_str().unwrap_or_default()
}

async fn post_json(c: &Client, url: String, token: Option<&str>, body: Value) -> Response {
    let mut req = c.post(url).json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.expect("request")
}

async fn login_as(c: &Client, s: &DemoServer, login: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({"login": login, "password": password});
    json_of(post_json(c, format!("{}/auth/login", s.api_url()), None, body).await).await
}

/// An access token for a seeded account (the demo password is shared).
async fn token_for(c: &Client, s: &DemoServer, username: &str) -> String {
    let (status, body) = login_as(c, s, username, &DemoOptions::default().password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["access_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

fn trip_body(title: &str) -> Value {
    json!({
        "title": title,
        "description": "Recorrido sintético de la sonda: pistas, puertos y un buen bocadillo al final.",
        "start_date": "2025-06-01",
        "end_date": "2025-06-03",
        "distance_km": 42.5,
        "difficulty": "moderate",
        "locations": [{"name": "Madrid", "country": "España"}],
        "tags": ["probe"],
    })
}

async fn create_trip(c: &Client, s: &DemoServer, token: &str, body: Value) -> (StatusCode, Value) {
    json_of(post_json(c, format!("{}/trips", s.api_url()), Some(token), body).await).await
}

/// Creates a draft and returns its id.
async fn new_trip(c: &Client, s: &DemoServer, token: &str) -> String {
    let (status, body) = create_trip(c, s, token, trip_body("[probe] synthetic trip")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["trip_id"]
        .as_str()
        .expect("trip_id")
        .to_owned()
}

async fn publish(c: &Client, s: &DemoServer, token: &str, id: &str) -> (StatusCode, Value) {
    let url = format!("{}/trips/{id}/publish", s.api_url());
    json_of(
        c.post(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("publish"),
    )
    .await
}

async fn upload(
    c: &Client,
    s: &DemoServer,
    token: &str,
    trip: &str,
    field: &str,
    mime: &str,
    bytes: Vec<u8>,
) -> Response {
    let part = Part::bytes(bytes)
        .file_name("probe.img")
        .mime_str(mime)
        .expect("mime");
    c.post(format!("{}/trips/{trip}/photos", s.api_url()))
        .bearer_auth(token)
        .multipart(Form::new().part(field.to_owned(), part))
        .send()
        .await
        .expect("upload")
}

fn png(size: usize, seed: u64) -> Vec<u8> {
    imagegen::generate(ImageFormat::Png, size, seed)
}

/// The trip ids of `GET /trips/public?limit=50`.
async fn public_ids(c: &Client, s: &DemoServer) -> Vec<String> {
    let resp = c
        .get(format!("{}/trips/public?limit=50", s.api_url()))
        .send()
        .await
        .expect("feed");
    let (status, body) = json_of(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["trips"]
        .as_array()
        .expect("bare trips list")
        .iter()
        .filter_map(|t| t["trip_id"].as_str().map(str::to_owned))
        .collect()
}

async fn preflight(c: &Client, s: &DemoServer, origin: &str) -> Response {
    c.request(Method::OPTIONS, format!("{}/auth/login", s.api_url()))
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "content-type,authorization",
        )
        .send()
        .await
        .expect("preflight")
}

#[tokio::test]
async fn api_health_is_json_while_frontend_health_is_the_spa() {
    let s = demo(&[]).await;
    let c = client();

    let resp = c
        .get(format!("{}/health", s.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(header(resp.headers(), "server"), Some("nginx"));
    assert_eq!(
        header(resp.headers(), "content-type"),
        Some("application/json")
    );
    let (status, body) = json_of(resp).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    assert_eq!(body["error"], Value::Null);
    assert_eq!(body["data"]["status"], "healthy");
    assert_eq!(body["data"]["environment"], "production");
    assert!(body["data"].get("database").is_none(), "{body}");
    let ts = body["data"]["timestamp"].as_str().unwrap();
    assert!(
        ts.ends_with("+00:00Z") && ts.len() == 33,
        "sloppy timestamp: {ts}"
    );

    // The SPA fallback trap: 200, but HTML.
    let resp = c
        .get(format!("{}/health", s.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(resp.headers(), "content-type"), Some("text/html"));
    assert_eq!(header(resp.headers(), "server"), Some("nginx"));
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<div id=\"root\"></div>")
    );

    let resp = c.get(s.base_url()).send().await.unwrap();
    assert_eq!(header(resp.headers(), "content-type"), Some("text/html"));
    let resp = c
        .get(format!("{}/assets/index-3f9a1c.js", s.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header(resp.headers(), "content-type"),
        Some("application/javascript")
    );

    let resp = c
        .head(format!("{}/health", s.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);

    let (status, body) = json_of(
        c.get(format!("{}/openapi.json", s.api_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["paths"]["/auth/login"].is_object(), "{body}");

    let (status, body) = json_of(
        c.get(format!("{}/cycling-types", s.api_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let codes: Vec<&str> = body
        .as_array()
        .expect("bare list")
        .iter()
        .filter_map(|t| t["code"].as_str())
        .collect();
    assert_eq!(
        codes,
        [
            "bikepacking",
            "commuting",
            "gravel",
            "mountain",
            "road",
            "touring"
        ]
    );
    assert!(body[0]["display_name"].is_string() && body[0]["description"].is_string());
    s.stop().await;
}

#[tokio::test]
async fn trailing_slash_redirect_loses_the_api_prefix() {
    let s = demo(&[]).await;
    let c = client();
    let resp = c
        .get(format!("{}/trips/", s.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    let location = header(resp.headers(), "location").unwrap();
    assert_eq!(location, format!("{}/trips", s.base_url()));
    assert!(!location.contains("/api"));

    let resp = c
        .get(format!("{}/trips/public/?limit=1", s.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        header(resp.headers(), "location"),
        Some(format!("{}/trips/public?limit=1", s.base_url()).as_str())
    );

    let resp = c.get(s.api_url()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY);
    let (status, body) =
        json_of(c.get(format!("{}/nope", s.api_url())).send().await.unwrap()).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"detail": "Not Found"}))
    );
    s.stop().await;
}

#[tokio::test]
async fn login_takes_the_login_field_and_returns_bearer_tokens() {
    let s = demo(&[]).await;
    let c = client();
    let opts = DemoOptions::default();
    let body = json!({"username": opts.username, "password": opts.password});
    let (status, body) =
        json_of(post_json(&c, format!("{}/auth/login", s.api_url()), None, body).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("VALIDATION_ERROR", "login")
    );

    for login in [opts.username.as_str(), opts.email.as_str()] {
        let (status, body) = login_as(&c, &s, login, &opts.password).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let data = &body["data"];
        assert_eq!(data["token_type"], "bearer");
        assert_eq!(data["expires_in"], 900);
        assert!(data["access_token"].as_str().is_some_and(|t| t.len() >= 32));
        assert!(data["refresh_token"].is_string());
        assert_eq!(data["user"]["username"], opts.username);
        assert_eq!(data["user"]["is_verified"], true);
    }

    // Malformed JSON is a validation error too.
    let resp = c
        .post(format!("{}/auth/login", s.api_url()))
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"login\":")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(resp).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
    );
    s.stop().await;
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_but_unknown_users_never_lock() {
    let s = demo(&[]).await;
    let c = client();
    let opts = DemoOptions::default();

    for _ in 0..12 {
        let (status, body) = login_as(&c, &s, "ghost_rider_x9", "Wrong-Passw0rd!").await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS")
        );
    }

    // A success before the fifth failure resets the count.
    for _ in 0..4 {
        let (status, _) = login_as(&c, &s, OTHER_USERNAME, "Wrong-Passw0rd!").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    token_for(&c, &s, OTHER_USERNAME).await;
    for _ in 0..4 {
        let (status, _) = login_as(&c, &s, OTHER_USERNAME, "Wrong-Passw0rd!").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    token_for(&c, &s, OTHER_USERNAME).await;

    for attempt in 1..=4 {
        let (status, body) = login_as(&c, &s, &opts.username, "Wrong-Passw0rd!").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {body}"
        );
    }
    let (status, body) = login_as(&c, &s, &opts.username, "Wrong-Passw0rd!").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "ACCOUNT_LOCKED")
    );
    let (status, body) = login_as(&c, &s, &opts.username, &opts.password).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "ACCOUNT_LOCKED")
    );
    // Per account: the other one is unaffected.
    token_for(&c, &s, OTHER_USERNAME).await;
    s.stop().await;
}

#[tokio::test]
async fn registration_creates_unverified_users_and_rejects_repeats() {
    let s = demo(&[]).await;
    let c = client();
    let url = format!("{}/auth/register", s.api_url());
    let user = json!({"username": "probe_user_1", "email": "probe1@example.com", "password": "ProbePass123!"});
    let (status, body) = json_of(post_json(&c, url.clone(), None, user.clone()).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["is_verified"], false);
    assert_eq!(body["data"]["username"], "probe_user_1");
    assert!(body["data"]["user_id"].is_string());

    let (status, body) = json_of(post_json(&c, url.clone(), None, user).await).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "USERNAME_TAKEN")
    );
    let same_email = json!({"username": "probe_user_2", "email": "probe1@example.com", "password": "ProbePass123!"});
    let (status, body) = json_of(post_json(&c, url.clone(), None, same_email).await).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "EMAIL_TAKEN")
    );

    let (status, body) = login_as(&c, &s, "probe_user_1", "ProbePass123!").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "EMAIL_NOT_VERIFIED")
    );

    for (username, email, password, field) in [
        ("ab", "a@example.com", "ProbePass123!", "username"),
        ("bad-name", "a@example.com", "ProbePass123!", "username"),
        ("good_name", "not-an-email", "ProbePass123!", "email"),
        ("good_name", "a@example.com", "short1!", "password"),
        ("good_name", "a@example.com", "nouppercase123!", "password"),
        ("good_name", "a@example.com", "NoSymbols123", "password"),
    ] {
        let body = json!({"username": username, "email": email, "password": password});
        let (status, body) = json_of(post_json(&c, url.clone(), None, body).await).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{username} {email} {password}"
        );
        assert_eq!(
            (error_code(&body), error_field(&body)),
            ("VALIDATION_ERROR", field)
        );
    }
    s.stop().await;
}

/// The real app's e-mail validation (pydantic's `EmailStr`) refuses
/// special-use and reserved domains — the reason `@probe.invalid` made the
/// shipped registration flow fail against it — and accepts `.example`.
#[tokio::test]
async fn registration_refuses_special_use_email_domains_like_the_real_app() {
    let s = demo(&[]).await;
    let c = client();
    let url = format!("{}/auth/register", s.api_url());
    let register = |n: usize, email: &str| json!({"username": format!("probe_mail_{n}"), "email": email, "password": "Pr0be-Passw0rd!"});
    let refused = [
        "probe@x.invalid",
        "probe@probe.invalid",
        "probe@host.test",
        "probe@printer.local",
        "probe@app.localhost",
        "probe@localhost",
        "probe@X.INVALID",
        "probe@hidden.onion",
    ];
    for (n, email) in refused.iter().enumerate() {
        let (status, body) =
            json_of(post_json(&c, url.clone(), None, register(n, email)).await).await;
        assert_eq!(
            (status, error_code(&body), error_field(&body)),
            (StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "email"),
            "{email}: {body}"
        );
        assert_eq!(body["success"], false, "{body}");
    }
    for (n, email) in [
        "probe@probe.example",
        "probe@example.com",
        "rider@contravento.es",
    ]
    .iter()
    .enumerate()
    {
        let (status, body) =
            json_of(post_json(&c, url.clone(), None, register(100 + n, email)).await).await;
        assert_eq!(status, StatusCode::CREATED, "{email}: {body}");
        assert_eq!(body["data"]["email"], *email);
        assert_eq!(body["data"]["is_verified"], false);
    }
    // Nothing refused was stored: only the three accepted users are new.
    assert_eq!(s.state().snapshot().users, 2 + 3);
    s.stop().await;
}

/// ContraVento's tag table: `GET /tags` is public and its `usage_count` goes
/// up with every trip created with the tag and never down, not even when the
/// trip is deleted — why synthetic trips carry no tags.
#[tokio::test]
async fn a_tags_usage_count_never_decrements_when_its_trip_is_deleted() {
    let s = demo(&[]).await;
    let c = client();
    let tags = || async {
        let (status, body) =
            json_of(c.get(format!("{}/tags", s.api_url())).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["success"], true, "{body}");
        body["data"]["tags"].as_array().cloned().unwrap()
    };
    let count_of = |list: &[Value], normalized: &str| {
        list.iter()
            .find(|t| t["normalized"] == normalized)
            .map(|t| t["usage_count"].as_u64().unwrap())
    };
    // The seeded trips' tag is there from the start; no "probe" tag yet.
    let before = tags().await;
    assert_eq!(count_of(&before, "gravel"), Some(2), "{before:?}");
    assert_eq!(count_of(&before, "probe"), None, "{before:?}");

    let token = token_for(&c, &s, &DemoOptions::default().username).await;
    let mut body = trip_body("[probe] tagged");
    body["tags"] = json!(["Probe"]);
    let (status, created) = create_trip(&c, &s, &token, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["data"]["tags"],
        json!([{"name": "Probe", "normalized": "probe", "usage_count": 1}])
    );
    let id = created["data"]["trip_id"].as_str().unwrap();
    let listed = tags().await;
    let probe = listed.iter().find(|t| t["normalized"] == "probe").unwrap();
    assert_eq!(
        (&probe["name"], &probe["usage_count"]),
        (&json!("Probe"), &json!(1)),
        "{listed:?}"
    );

    let resp = c
        .delete(format!("{}/trips/{id}", s.api_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = c
        .get(format!("{}/trips/{id}", s.api_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND, "the trip is gone");
    // …and its tag still counts it, publicly.
    assert_eq!(count_of(&tags().await, "probe"), Some(1));

    // The next trip with it counts on from there.
    body["tags"] = json!(["probe"]);
    let (_, again) = create_trip(&c, &s, &token, body).await;
    assert_eq!(again["data"]["tags"][0]["usage_count"], 2, "{again}");
    assert_eq!(
        again["data"]["tags"][0]["name"], "Probe",
        "first spelling kept"
    );
    assert_eq!(count_of(&tags().await, "probe"), Some(2));
    assert_eq!(
        count_of(&tags().await, "gravel"),
        Some(2),
        "other tags untouched"
    );
    s.stop().await;
}

/// `backend-down`: the FastAPI backend is gone, nginx is not. Every `/api/*`
/// and `/storage/*` request gets nginx's own HTML 502; the SPA, its
/// client-side routes and its assets are still served.
#[tokio::test]
async fn backend_down_is_nginx_502_on_api_and_storage_while_the_spa_is_served() {
    let s = demo(&[]).await;
    let c = client();
    // A photo URL that works while the backend is up.
    let token = token_for(&c, &s, &DemoOptions::default().username).await;
    let trip = new_trip(&c, &s, &token).await;
    let resp = upload(&c, &s, &token, &trip, "photo", "image/png", png(4096, 1)).await;
    let (status, photo) = json_of(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{photo}");
    let photo_url = format!(
        "{}{}",
        s.base_url(),
        photo["data"]["photo_url"].as_str().unwrap()
    );

    let mut f = Faults::default();
    f.apply_spec("backend-down").unwrap();
    s.set_faults(f);
    // The control endpoint shows it under its JSON name.
    let (_, faults) = json_of(
        c.get(format!("{}/__demo/faults", s.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(faults["backend_down"], true, "{faults}");

    for (method, url) in [
        (Method::GET, format!("{}/health", s.api_url())),
        (Method::GET, format!("{}/trips/public?limit=1", s.api_url())),
        (Method::POST, format!("{}/auth/login", s.api_url())),
        (Method::OPTIONS, format!("{}/auth/login", s.api_url())),
        (Method::GET, photo_url.clone()),
    ] {
        let resp = c
            .request(method.clone(), &url)
            .header(header::ORIGIN, "https://contravento.example")
            .header(header::CONTENT_TYPE, "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY, "{method} {url}");
        let headers = resp.headers().clone();
        assert_eq!(
            header(&headers, "content-type"),
            Some("text/html"),
            "{method} {url}"
        );
        assert!(
            header(&headers, "access-control-allow-origin").is_none(),
            "CORS is the backend's: {method} {url}"
        );
        let body = resp.text().await.unwrap();
        assert!(
            body.contains("<title>502 Bad Gateway</title>") && body.contains("<center>nginx"),
            "{method} {url}: {body}"
        );
    }
    for path in ["/", "/trips/public", "/login", "/health", JS, CSS] {
        let resp = c
            .get(format!("{}{path}", s.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    let spa = c
        .get(s.base_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(spa.contains("<div id=\"root\""), "{spa}");

    // Back up: the same requests are answered by the backend again.
    s.set_faults(Faults::default());
    let (status, _) = json_of(
        c.get(format!("{}/health", s.api_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        c.get(&photo_url).send().await.unwrap().status(),
        StatusCode::OK
    );
    s.stop().await;
}

#[tokio::test]
async fn missing_or_invalid_tokens_are_401_with_www_authenticate() {
    let s = demo(&[]).await;
    let c = client();
    for token in [None, Some("not-a-real-token")] {
        let resp = post_json(&c, format!("{}/trips", s.api_url()), token, trip_body("x")).await;
        assert_eq!(header(resp.headers(), "www-authenticate"), Some("Bearer"));
        let (status, body) = json_of(resp).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
        );
        assert_eq!(body["success"], false);
    }
    s.stop().await;
}

#[tokio::test]
async fn trip_lifecycle_from_draft_to_deletion() {
    let s = demo(&[]).await;
    let c = client();
    let token = token_for(&c, &s, "probe").await;
    let other = token_for(&c, &s, OTHER_USERNAME).await;

    let (status, body) = create_trip(&c, &s, &token, trip_body("[probe] synthetic trip")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let data = &body["data"];
    assert_eq!(data["status"], "draft");
    assert_eq!(data["is_private"], false);
    assert_eq!(data["published_at"], Value::Null);
    assert_eq!(data["photos"], json!([]));
    assert_eq!(data["like_count"], 0);
    assert_eq!(data["locations"][0]["name"], "Madrid");
    assert_eq!(data["locations"][0]["sequence"], 0);
    assert!(data["locations"][0]["location_id"].is_string());
    assert_eq!(
        data["tags"][0],
        json!({"name": "probe", "normalized": "probe", "usage_count": 1})
    );
    let id = data["trip_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36);
    let trip_url = format!("{}/trips/{id}", s.api_url());

    // A draft is private.
    let (status, body) = json_of(c.get(&trip_url).send().await.unwrap()).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    let (status, _) = json_of(c.get(&trip_url).bearer_auth(&other).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = json_of(c.get(&trip_url).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(
        (status, &body["data"]["trip_id"]),
        (StatusCode::OK, &json!(id))
    );

    // Photo upload, then the photo from /storage (outside /api).
    let image = png(4096, 1);
    let (status, body) =
        json_of(upload(&c, &s, &token, &id, "photo", "image/png", image.clone()).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let photo = &body["data"];
    let info = imagegen::sniff(&image).unwrap();
    assert_eq!(
        (photo["width"].as_u64(), photo["height"].as_u64()),
        (Some(info.width.into()), Some(info.height.into()))
    );
    assert_eq!(photo["file_size"], 4096);
    assert_eq!(photo["order"], 0);
    assert_eq!(photo["trip_id"], json!(id));
    let photo_url = photo["photo_url"].as_str().unwrap().to_owned();
    let thumb_url = photo["thumb_url"].as_str().unwrap();
    assert!(
        photo_url.starts_with("/storage/trip_photos/") && photo_url.ends_with("_optimized.jpg")
    );
    assert!(photo_url.contains(&id), "{photo_url}");
    assert!(thumb_url.ends_with("_thumb.jpg"));
    for url in [photo_url.as_str(), thumb_url] {
        let resp = c
            .get(format!("{}{url}", s.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header(resp.headers(), "content-type"), Some("image/jpeg"));
        let bytes = resp.bytes().await.unwrap();
        jpeg_decoder::Decoder::new(&bytes[..])
            .decode()
            .expect("served photo is a real JPEG");
    }

    // Publish (idempotent), then the trip is public and in the feed.
    let (status, body) = publish(&c, &s, &token, &id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "published");
    assert_eq!(body["data"]["trip_id"], json!(id));
    let published_at = body["data"]["published_at"].clone();
    assert!(published_at.as_str().is_some_and(|t| t.ends_with('Z')));
    let (status, body) = publish(&c, &s, &token, &id).await;
    assert_eq!(
        (status, &body["data"]["published_at"]),
        (StatusCode::OK, &published_at)
    );
    let (status, _) = json_of(c.get(&trip_url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);

    let feed = c
        .get(format!("{}/trips/public?page=1&limit=5", s.api_url()))
        .send()
        .await
        .unwrap();
    let (status, feed) = json_of(feed).await;
    assert_eq!(status, StatusCode::OK);
    assert!(feed.get("success").is_none(), "the feed is bare: {feed}");
    let first = &feed["trips"][0];
    assert_eq!(first["trip_id"], json!(id), "newest first: {feed}");
    assert_eq!(first["photo"]["photo_url"], json!(photo_url));
    assert!(first["photo"]["thumbnail_url"].is_string());
    assert_eq!(first["location"], json!({"name": "Madrid"}));
    assert_eq!(first["author"]["username"], "probe");
    assert_eq!(first["author"]["profile_photo_url"], Value::Null);
    assert_eq!(
        (first["like_count"].clone(), first["is_liked"].clone()),
        (json!(0), Value::Null)
    );
    assert_eq!(first["start_date"], "2025-06-01");
    assert_eq!(first["distance_km"], 42.5);
    assert_eq!(feed["pagination"]["page"], 1);
    assert_eq!(feed["pagination"]["limit"], 5);
    let total = feed["pagination"]["total"].as_u64().unwrap();
    assert_eq!(
        feed["pagination"]["total_pages"].as_u64().unwrap(),
        total.div_ceil(5)
    );
    assert!(public_ids(&c, &s).await.contains(&id));
    assert_eq!(
        s.trips()
            .iter()
            .find(|t| t.id == id)
            .map(|t| (t.status.as_str(), t.photos)),
        Some(("published", 1))
    );

    // Delete: not by someone else; then gone, photos included.
    let resp = c
        .delete(&trip_url)
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(resp).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    let (status, body) = json_of(
        c.delete(&trip_url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"],
        json!({"message": "Viaje eliminado correctamente"})
    );
    let (status, body) = json_of(c.get(&trip_url).send().await.unwrap()).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    let (status, _) = json_of(
        c.delete(&trip_url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let resp = c
        .get(format!("{}{photo_url}", s.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(!public_ids(&c, &s).await.contains(&id));
    assert!(s.trips().iter().all(|t| !t.title.starts_with("[probe]")));
    s.stop().await;
}

#[tokio::test]
async fn trip_creation_is_validated() {
    let s = demo(&[]).await;
    let c = client();
    let token = token_for(&c, &s, "probe").await;
    let future = smokeprobe::builtins::date_utc(1);
    let cases: [(&str, Value, &str); 8] = [
        ("start_date", json!(future), "start_date"),
        ("start_date", json!("2025-02-30"), "start_date"),
        ("end_date", json!("2025-05-01"), "end_date"),
        ("title", json!(""), "title"),
        ("title", json!("x".repeat(201)), "title"),
        ("distance_km", json!(0.05), "distance_km"),
        ("difficulty", json!("brutal"), "difficulty"),
        ("locations", json!([{"country": "España"}]), "locations"),
    ];
    for (key, value, field) in cases {
        let mut body = trip_body("[probe] invalid");
        body[key] = value;
        let (status, body) = create_trip(&c, &s, &token, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{key}: {body}");
        assert_eq!(
            (error_code(&body), error_field(&body)),
            ("VALIDATION_ERROR", field),
            "{key}"
        );
    }
    let mut body = trip_body("[probe] future");
    body["start_date"] = json!(future);
    let (_, body) = create_trip(&c, &s, &token, body).await;
    assert_eq!(
        body["error"]["message"],
        "La fecha de inicio no puede ser futura"
    );

    // Only title and start_date are required; today is not the future.
    let minimal =
        json!({"title": "[probe] minimal", "start_date": smokeprobe::builtins::today_utc()});
    let (status, body) = create_trip(&c, &s, &token, minimal).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(s.trips().iter().all(|t| t.title != "[probe] invalid"));
    s.stop().await;
}

#[tokio::test]
async fn publishing_needs_a_50_character_description() {
    let s = demo(&[]).await;
    let c = client();
    let token = token_for(&c, &s, "probe").await;
    let mut body = trip_body("[probe] short");
    body["description"] = json!("corta");
    let (_, created) = create_trip(&c, &s, &token, body).await;
    let id = created["data"]["trip_id"].as_str().unwrap();
    let (status, body) = publish(&c, &s, &token, id).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("VALIDATION_ERROR", "description")
    );
    let other = token_for(&c, &s, OTHER_USERNAME).await;
    let (status, _) = publish(&c, &s, &other, id).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = publish(&c, &s, &token, "00000000-0000-4000-8000-000000000000").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        s.trips().iter().find(|t| t.id == id).unwrap().status,
        "draft"
    );
    s.stop().await;
}

#[tokio::test]
async fn photo_uploads_are_checked_like_the_backend_does() {
    let s = demo(&[]).await;
    let c = client();
    let token = token_for(&c, &s, "probe").await;
    let id = new_trip(&c, &s, &token).await;

    let cases = [
        ("file", "image/png", png(2048, 2), "Field required"),
        (
            "photo",
            "image/gif",
            png(2048, 3),
            "Formato de archivo no soportado. Usa JPG, PNG o WebP",
        ),
        (
            "photo",
            "image/png",
            b"definitely not a picture".to_vec(),
            "El archivo no es una imagen válida",
        ),
    ];
    for (field, mime, bytes, message) in cases {
        let (status, body) = json_of(upload(&c, &s, &token, &id, field, mime, bytes).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field} {mime}: {body}");
        assert_eq!(
            (error_code(&body), error_field(&body)),
            ("VALIDATION_ERROR", "photo")
        );
        assert!(
            body["error"]["message"].as_str().unwrap().contains(message),
            "{body}"
        );
    }

    // A JPEG and a (hand-made, lossless) WebP are accepted too.
    let jpeg = imagegen::generate(ImageFormat::Jpeg, 3000, 4);
    let resp = upload(&c, &s, &token, &id, "photo", "image/jpeg", jpeg).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let mut webp = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f".to_vec();
    webp.extend_from_slice(&((63u32) | (47u32 << 14)).to_le_bytes());
    webp.extend_from_slice(&[0; 8]);
    let (status, body) =
        json_of(upload(&c, &s, &token, &id, "photo", "image/webp", webp).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (
            body["data"]["width"].clone(),
            body["data"]["height"].clone()
        ),
        (json!(64), json!(48))
    );

    for seed in 0..4 {
        let resp = upload(&c, &s, &token, &id, "photo", "image/png", png(1024, seed)).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let (status, body) =
        json_of(upload(&c, &s, &token, &id, "photo", "image/png", png(1024, 9)).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"]["message"],
        "Has alcanzado el límite de 6 fotos por viaje"
    );
    assert_eq!(s.trips().iter().find(|t| t.id == id).unwrap().photos, 6);

    // Someone else's trip, and an unknown trip.
    let other = token_for(&c, &s, OTHER_USERNAME).await;
    let resp = upload(&c, &s, &other, &id, "photo", "image/png", png(1024, 1)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = upload(
        &c,
        &s,
        &token,
        "no-such-trip",
        "photo",
        "image/png",
        png(1024, 1),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn bodies_over_10_mb_get_nginx_413_html() {
    let s = demo(&[]).await;
    let c = client();
    let token = token_for(&c, &s, "probe").await;
    let id = new_trip(&c, &s, &token).await;

    // Declared length (reqwest sends Content-Length for in-memory forms).
    let big = png(10 * 1024 * 1024 + 512 * 1024, 7);
    let resp = upload(&c, &s, &token, &id, "photo", "image/png", big).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(header(resp.headers(), "content-type"), Some("text/html"));
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("413 Request Entity Too Large") && text.contains("nginx"),
        "{text}"
    );

    // Chunked, so only counting the bytes can catch it.
    let chunks =
        (0..11).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; 1024 * 1024])));
    let resp = c
        .post(format!("{}/trips", s.api_url()))
        .bearer_auth(&token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Just under the cap still reaches the backend.
    let fits = png(6 * 1024 * 1024, 8);
    let resp = upload(&c, &s, &token, &id, "photo", "image/png", fits).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    s.stop().await;
}

#[tokio::test]
async fn public_feed_is_bare_paginated_and_published_only() {
    let s = demo(&[]).await;
    let c = client();
    let token = token_for(&c, &s, "probe").await;
    let draft = new_trip(&c, &s, &token).await;
    assert!(!public_ids(&c, &s).await.contains(&draft));

    let (status, body) = json_of(
        c.get(format!("{}/trips/public?limit=1", s.api_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["trips"].as_array().unwrap().len(), 1);
    assert_eq!(
        body["pagination"]["total"], 2,
        "two seeded public trips: {body}"
    );
    assert_eq!(body["pagination"]["total_pages"], 2);
    let (_, page2) = json_of(
        c.get(format!("{}/trips/public?limit=1&page=2", s.api_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_ne!(page2["trips"][0]["trip_id"], body["trips"][0]["trip_id"]);
    let (_, page9) = json_of(
        c.get(format!("{}/trips/public?page=9", s.api_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(page9["trips"], json!([]));

    let (status, feed) =
        json_of(c.get(format!("{}/feed", s.api_url())).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(feed["pagination"].is_object() && feed.get("success").is_none());

    for query in ["page=0", "limit=0", "limit=51", "page=abc"] {
        let resp = c
            .get(format!("{}/trips/public?{query}", s.api_url()))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(resp).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
            "{query}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn cors_behaves_like_starlette() {
    let s = demo(&[]).await;
    let c = client();

    let resp = preflight(&c, &s, ALLOWED_ORIGIN).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some(ALLOWED_ORIGIN)
    );
    assert_eq!(header(&h, "access-control-allow-credentials"), Some("true"));
    assert_eq!(
        header(&h, "access-control-allow-methods"),
        Some("DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT")
    );
    assert_eq!(
        header(&h, "access-control-allow-headers"),
        Some("content-type,authorization")
    );
    assert_eq!(header(&h, "access-control-max-age"), Some("600"));
    assert_eq!(header(&h, "vary"), Some("Origin"));
    assert!(
        header(&h, "content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(resp.text().await.unwrap(), "OK");

    let resp = preflight(&c, &s, EVIL_ORIGIN).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let h = resp.headers().clone();
    assert_eq!(header(&h, "access-control-allow-origin"), None);
    assert_eq!(header(&h, "access-control-allow-credentials"), Some("true"));
    assert_eq!(header(&h, "access-control-max-age"), Some("600"));
    assert_eq!(header(&h, "vary"), Some("Origin"));
    assert_eq!(resp.text().await.unwrap(), "Disallowed CORS origin");

    let simple = |origin: &'static str| {
        c.get(format!("{}/health", s.api_url()))
            .header(header::ORIGIN, origin)
            .send()
    };
    let h = simple(ALLOWED_ORIGIN).await.unwrap().headers().clone();
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some(ALLOWED_ORIGIN)
    );
    assert_eq!(header(&h, "access-control-allow-credentials"), Some("true"));
    assert_eq!(header(&h, "vary"), Some("Origin"));
    let h = simple(EVIL_ORIGIN).await.unwrap().headers().clone();
    assert_eq!(header(&h, "access-control-allow-origin"), None);

    // No Origin, no CORS headers; the SPA has no CORS at all.
    let h = c
        .get(format!("{}/health", s.api_url()))
        .send()
        .await
        .unwrap()
        .headers()
        .clone();
    assert_eq!(header(&h, "access-control-allow-credentials"), None);
    s.stop().await;
}

#[tokio::test]
async fn latency_fault_delays_matching_requests() {
    let s = demo(&[
        "latency:/api/auth/login=300ms",
        "latency:DELETE:/api/trips=50ms",
    ])
    .await;
    let c = client();
    let started = Instant::now();
    token_for(&c, &s, "probe").await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        s.faults().latency[1],
        LatencyFault {
            path: "/api/trips".into(),
            method: Some("DELETE".into()),
            delay_ms: 50,
            jitter_ms: 0,
        }
    );
    s.stop().await;
}

#[tokio::test]
async fn error_fault_answers_its_status_at_its_rate() {
    let s = demo(&["error:/api/trips=1:503", "error:/api/cycling-types=0:500"]).await;
    let c = client();
    let token = token_for(&c, &s, "probe").await;
    let (status, body) = create_trip(&c, &s, &token, trip_body("[probe] x")).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::SERVICE_UNAVAILABLE, "INTERNAL_ERROR")
    );
    let resp = c
        .get(format!("{}/trips/public", s.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    for _ in 0..5 {
        let resp = c
            .get(format!("{}/cycling-types", s.api_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    assert!(s.trips().iter().all(|t| !t.title.starts_with("[probe]")));
    s.stop().await;
}

#[tokio::test]
async fn db_down_keeps_health_green_and_breaks_everything_else() {
    let s = demo(&["db-down"]).await;
    let c = client();
    let (status, body) = json_of(
        c.get(format!("{}/health", s.api_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &body["data"]["status"]),
        (StatusCode::OK, &json!("healthy"))
    );

    let (status, body) = json_of(
        c.get(format!("{}/trips/public?limit=1", s.api_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::INTERNAL_SERVER_ERROR, "PUBLIC_FEED_ERROR")
    );
    assert!(
        body["error"].get("detail").is_none(),
        "no leak unless asked: {body}"
    );
    let (status, _) = json_of(
        c.get(format!("{}/cycling-types", s.api_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let opts = DemoOptions::default();
    let (status, body) = login_as(&c, &s, &opts.username, &opts.password).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR")
    );
    let user =
        json!({"username": "new_rider", "email": "new@example.com", "password": "ProbePass123!"});
    let (status, _) =
        json_of(post_json(&c, format!("{}/auth/register", s.api_url()), None, user).await).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, _) = json_of(
        c.get(format!("{}/trips/x", s.api_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    s.stop().await;
}

#[tokio::test]
async fn leak_errors_puts_a_traceback_and_sql_in_500s() {
    let s = demo(&["db-down", "leak-errors", "error:/api/feed=1:502"]).await;
    let c = client();
    for path in ["/trips/public", "/cycling-types", "/feed"] {
        let resp = c
            .get(format!("{}{path}", s.api_url()))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_server_error());
        let text = resp.text().await.unwrap();
        assert!(
            text.contains("Traceback (most recent call last)") && text.contains("[SQL: SELECT"),
            "{path}: {text}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn photo_and_publish_faults() {
    let s = demo(&["reject-photos", "publish-fails"]).await;
    let c = client();
    let token = token_for(&c, &s, "probe").await;
    let id = new_trip(&c, &s, &token).await;
    let (status, body) =
        json_of(upload(&c, &s, &token, &id, "photo", "image/png", png(2048, 1)).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"]["message"],
        "El archivo no es una imagen válida"
    );
    let (status, body) = publish(&c, &s, &token, &id).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR")
    );
    assert_eq!(
        s.trips()
            .iter()
            .find(|t| t.id == id)
            .map(|t| (t.status.as_str(), t.photos)),
        Some(("draft", 0))
    );
    s.stop().await;
}

#[tokio::test]
async fn feed_hides_new_trips_until_the_fault_is_lifted() {
    let s = demo(&["feed-hides-new"]).await;
    let c = client();
    let token = token_for(&c, &s, "probe").await;
    let id = new_trip(&c, &s, &token).await;
    let (status, _) = publish(&c, &s, &token, &id).await;
    assert_eq!(status, StatusCode::OK);
    let ids = public_ids(&c, &s).await;
    assert_eq!(ids.len(), 2, "seeded trips stay visible: {ids:?}");
    assert!(!ids.contains(&id));
    s.set_faults(Faults::default());
    assert!(public_ids(&c, &s).await.contains(&id));
    s.stop().await;
}

#[tokio::test]
async fn no_security_headers_fault() {
    let s = demo(&["no-security-headers"]).await;
    let resp = client()
        .get(format!("{}/health", s.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    for name in SECURITY_HEADERS {
        assert!(!resp.headers().contains_key(name), "{name}");
    }
    s.stop().await;
}

#[tokio::test]
async fn cors_fault_modes() {
    let s = demo(&["cors=wildcard"]).await;
    let c = client();
    let resp = preflight(&c, &s, EVIL_ORIGIN).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header(resp.headers(), "access-control-allow-origin"),
        Some("*")
    );
    assert_eq!(
        header(resp.headers(), "access-control-allow-credentials"),
        Some("true")
    );
    let resp = c
        .get(format!("{}/health", s.api_url()))
        .header(header::ORIGIN, EVIL_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(resp.headers(), "access-control-allow-origin"),
        Some("*")
    );
    assert_eq!(
        header(resp.headers(), "access-control-allow-credentials"),
        Some("true")
    );

    s.set_faults(Faults {
        cors: CorsMode::EchoAny,
        ..Faults::default()
    });
    let resp = preflight(&c, &s, EVIL_ORIGIN).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header(resp.headers(), "access-control-allow-origin"),
        Some(EVIL_ORIGIN)
    );
    assert_eq!(
        header(resp.headers(), "access-control-allow-credentials"),
        Some("true")
    );
    let resp = preflight(&c, &s, "http://localhost:5173").await;
    assert_eq!(
        header(resp.headers(), "access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    s.stop().await;
}

#[tokio::test]
async fn faults_switch_at_run_time_over_http() {
    let s = demo(&[]).await;
    let c = client();
    let control = format!("{}/__demo/faults", s.base_url());
    let (status, body) = json_of(c.get(&control).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_value::<Faults>(body).unwrap(),
        Faults::default()
    );

    let resp = c
        .put(&control)
        .json(&json!({"db_down": true, "cors": "echo-any"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(s.faults().db_down);
    assert_eq!(s.faults().cors, CorsMode::EchoAny);
    let resp = c
        .get(format!("{}/trips/public", s.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let (_, body) = json_of(c.get(&control).send().await.unwrap()).await;
    assert_eq!(body["db_down"], true);

    let resp = c.put(&control).body("{not json").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(s.faults().db_down, "a bad document changes nothing");
    let resp = c.delete(&control).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);

    let resp = c.put(&control).json(&json!({})).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(s.faults().is_empty());
    let resp = c
        .get(format!("{}/trips/public", s.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn the_state_endpoint_lists_trips_and_counts_sessions() {
    let s = demo(&[]).await;
    let c = client();
    let state_url = format!("{}/__demo/state", s.base_url());
    let (status, body) = json_of(c.get(&state_url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    // The two seeded trips of the other rider, no session yet.
    assert_eq!(body["trips"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body["trips"][0]["owner"], OTHER_USERNAME);
    assert_eq!(body["sessions"], 0);
    assert_eq!(body["users"], 2);

    let token = token_for(&c, &s, "probe").await;
    let id = new_trip(&c, &s, &token).await;
    let (_, body) = json_of(c.get(&state_url).send().await.unwrap()).await;
    assert_eq!(body["sessions"], 1);
    let trips = body["trips"].as_array().unwrap();
    assert_eq!(trips.len(), 3);
    assert_eq!(trips[2]["id"], id.as_str());
    assert_eq!(trips[2]["owner"], "probe");
    assert_eq!(trips[2]["status"], "draft");
    assert!(body["requests"].as_u64().unwrap() >= 3);

    let resp = c.put(&state_url).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(resp.headers(), "allow"), Some("GET"));
    s.stop().await;
}

#[tokio::test]
async fn fault_specs_parse_and_unknown_ones_list_the_valid_forms() {
    let mut f = Faults::default();
    for spec in [
        "latency:/api/auth/login=800ms",
        "latency:POST:/api/trips=1.5s",
        "error:/api/trips=0.5:500",
        "error:get:/api/feed=1",
        "db-down",
        "backend-down",
        "reject-photos",
        "publish-fails",
        "feed-hides-new",
        "no-security-headers",
        "leak-errors",
        "cors=echo-any",
        "cors=wildcard",
        "headers=as-committed",
        "hsts=short",
        "xfo=sameorigin",
        "csp=unsafe",
        "server-version",
        "insecure-cookie",
        "redirect=302",
        "upload-trusts-type",
        "source-maps",
        "big-bundle",
        "no-gzip",
        "token-ttl=1s",
        "login-cost=300ms",
        "login-constant-time",
        "storage-readonly",
        "docs-public",
        "spa-js-error",
        "spa-api-base=http://127.0.0.1:9/",
        "spa-csp-blocks",
        "spa-slow-lcp",
        "spa-layout-shift",
        "spa-missing-chunk",
    ] {
        f.apply_spec(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
    }
    let expected = Faults {
        latency: vec![
            LatencyFault {
                path: "/api/auth/login".into(),
                method: None,
                delay_ms: 800,
                jitter_ms: 0,
            },
            LatencyFault {
                path: "/api/trips".into(),
                method: Some("POST".into()),
                delay_ms: 1500,
                jitter_ms: 0,
            },
        ],
        errors: vec![
            ErrorFault {
                path: "/api/trips".into(),
                method: None,
                rate: 0.5,
                status: 500,
            },
            ErrorFault {
                path: "/api/feed".into(),
                method: Some("GET".into()),
                rate: 1.0,
                status: 500,
            },
        ],
        db_down: true,
        backend_down: true,
        reject_photos: true,
        publish_fails: true,
        feed_hides_new: true,
        no_security_headers: true,
        cors: CorsMode::WildcardWithCredentials,
        leak_errors: true,
        headers: HeaderProfile::AsCommitted,
        hsts: HstsMode::Short,
        xfo_sameorigin: true,
        csp_unsafe: true,
        server_version: true,
        insecure_cookie: true,
        redirect: RedirectMode::Found,
        upload_trusts_type: true,
        source_maps: true,
        big_bundle: true,
        no_gzip: true,
        token_ttl: Some(Duration::from_secs(1)),
        login_cost: Some(Duration::from_millis(300)),
        login_constant_time: true,
        storage_readonly: true,
        docs_public: true,
        spa_js_error: true,
        spa_api_base: Some("http://127.0.0.1:9".into()),
        spa_csp_blocks: true,
        spa_slow_lcp: true,
        spa_layout_shift: true,
        spa_missing_chunk: true,
    };
    assert_eq!(f, expected);
    for (spec, parsed) in [
        ("cors=allow-http", FaultSpec::Cors(CorsMode::AllowHttp)),
        ("cors=starlette", FaultSpec::Cors(CorsMode::Starlette)),
        (
            "headers=hardened",
            FaultSpec::Headers(HeaderProfile::Hardened),
        ),
        (
            "headers=as-committed",
            FaultSpec::Headers(HeaderProfile::AsCommitted),
        ),
        ("hsts=missing", FaultSpec::Hsts(HstsMode::Missing)),
        ("hsts=short", FaultSpec::Hsts(HstsMode::Short)),
        ("hsts=full", FaultSpec::Hsts(HstsMode::Full)),
        ("xfo=sameorigin", FaultSpec::XfoSameorigin),
        ("csp=unsafe", FaultSpec::CspUnsafe),
        ("server-version", FaultSpec::ServerVersion),
        ("insecure-cookie", FaultSpec::InsecureCookie),
        ("redirect=none", FaultSpec::Redirect(RedirectMode::None)),
        ("redirect=302", FaultSpec::Redirect(RedirectMode::Found)),
        ("redirect=root", FaultSpec::Redirect(RedirectMode::Root)),
        ("redirect=301", FaultSpec::Redirect(RedirectMode::Permanent)),
        ("upload-trusts-type", FaultSpec::UploadTrustsType),
        ("source-maps", FaultSpec::SourceMaps),
        ("big-bundle", FaultSpec::BigBundle),
        ("no-gzip", FaultSpec::NoGzip),
        (
            "token-ttl=300ms",
            FaultSpec::TokenTtl(Duration::from_millis(300)),
        ),
        (
            "token-ttl=1.5s",
            FaultSpec::TokenTtl(Duration::from_millis(1500)),
        ),
        ("login-cost=0ms", FaultSpec::LoginCost(Duration::ZERO)),
        (
            "spa-api-base=localhost",
            FaultSpec::SpaApiBase("http://localhost:8000".into()),
        ),
        (
            "spa-api-base=https://api.contravento.example/v1/",
            FaultSpec::SpaApiBase("https://api.contravento.example/v1".into()),
        ),
        (
            "login-cost=0.5s",
            FaultSpec::LoginCost(Duration::from_millis(500)),
        ),
    ] {
        assert_eq!(spec.parse::<FaultSpec>(), Ok(parsed), "{spec}");
    }
    assert_eq!(
        "cors=echo-any".parse::<FaultSpec>(),
        Ok(FaultSpec::Cors(CorsMode::EchoAny))
    );

    let json = serde_json::to_value(&expected).unwrap();
    assert_eq!(json["cors"], "wildcard-with-credentials");
    assert_eq!(json["headers"], "as-committed");
    assert_eq!(json["hsts"], "short");
    assert_eq!(json["redirect"], "302");
    assert_eq!(json["token_ttl"], "1s");
    assert_eq!(json["backend_down"], true);
    assert_eq!(json["login_cost"], "300ms");
    let defaults = serde_json::to_value(Faults::default()).unwrap();
    assert_eq!(
        (
            &defaults["headers"],
            &defaults["hsts"],
            &defaults["redirect"]
        ),
        (&json!("hardened"), &json!("full"), &json!("301"))
    );
    assert_eq!(defaults["token_ttl"], Value::Null);
    assert_eq!(defaults["login_cost"], Value::Null);
    // Sub-second lifetimes survive the JSON round trip too (as milliseconds).
    for ttl in [Duration::from_millis(1500), Duration::from_millis(300)] {
        let f = Faults {
            token_ttl: Some(ttl),
            ..Faults::default()
        };
        let back: Faults = serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(back, f, "{ttl:?}");
    }
    assert_eq!(serde_json::from_value::<Faults>(json).unwrap(), expected);

    let err = Faults::default().apply_spec("explode").unwrap_err();
    for form in [
        "latency:",
        "error:",
        "db-down",
        "backend-down",
        "reject-photos",
        "cors=wildcard",
        "leak-errors",
        "cors=allow-http",
        "headers=as-committed",
        "no-security-headers",
        "hsts=missing",
        "hsts=short",
        "xfo=sameorigin",
        "csp=unsafe",
        "server-version",
        "insecure-cookie",
        "redirect=302",
        "redirect=root",
        "redirect=none",
        "upload-trusts-type",
        "source-maps",
        "big-bundle",
        "no-gzip",
        "token-ttl=",
        "login-cost=",
        "login-constant-time",
        "storage-readonly",
        "docs-public",
        "spa-js-error",
        "spa-api-base=",
        "spa-csp-blocks",
        "spa-slow-lcp",
        "spa-layout-shift",
        "spa-missing-chunk",
    ] {
        assert!(err.contains(form), "{err}");
    }
    for bad in [
        "latency:/api=fast",
        "latency:/api",
        "latency:api/login=10ms",
        "error:/api=1.5:500",
        "error:/api=0.5:200",
        "error:/api=x",
        "cors=sometimes",
        "hsts=long",
        "redirect=307",
        "headers=none",
        "xfo=deny",
        "token-ttl=0s",
        "token-ttl=fast",
        "token-ttl=",
        "token-ttl=2h",
        "login-cost=fast",
        "login-cost=2m",
        "login-cost=61s",
        "spa-api-base=",
        "spa-api-base=/api",
        "spa-api-base=ftp://127.0.0.1/",
        "spa-api-base=http://127.0.0.1:8000/?x=1",
        "spa-api-base=http://user:pw@127.0.0.1:8000",
        "",
    ] {
        assert!(
            Faults::default().apply_spec(bad).is_err(),
            "{bad:?} should be refused"
        );
    }
}

#[tokio::test]
async fn garbage_never_breaks_the_server_and_requests_are_counted() {
    let s = demo_with(DemoOptions::default()).await;
    let c = client();
    assert_eq!(s.request_count(), 0);
    let token = token_for(&c, &s, "probe").await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for body in [
        "",
        "null",
        "[1,2]",
        "{\"title\": 5, \"start_date\": []}",
        deep.as_str(),
    ] {
        let resp = c
            .post(format!("{}/trips", s.api_url()))
            .bearer_auth(&token)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{:.40}", body);
    }
    let id = new_trip(&c, &s, &token).await;
    let resp = c
        .post(format!("{}/trips/{id}/photos", s.api_url()))
        .bearer_auth(&token)
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XYZ")
        .body("--XYZ\r\nContent-Disposition: form-data; name=\"photo\"\r\n\r\ntrunc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    for path in [
        "/api/trips/%00/photos",
        "/api//trips",
        "/api/trips/../../etc/passwd",
        "/storage/../x",
        "/%ff%fe",
    ] {
        let resp = c
            .get(format!("{}{path}", s.base_url()))
            .send()
            .await
            .unwrap();
        assert!(resp.status().as_u16() < 500, "{path}: {}", resp.status());
    }
    let resp = c
        .get(format!("{}/health", s.api_url()))
        .header("x-padding", "a".repeat(1024 * 1024))
        .send()
        .await;
    // hyper refuses oversized heads itself (431 or a closed connection).
    if let Ok(resp) = resp {
        assert!(resp.status().is_client_error(), "{}", resp.status());
    }
    let before = s.request_count();
    let resp = c
        .get(format!("{}/health", s.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(s.request_count(), before + 1);
    s.stop().await;
}

#[tokio::test]
async fn stop_closes_the_listener() {
    let s = DemoServer::start(DemoOptions::default()).await.unwrap();
    let c = client();
    let url = format!("{}/health", s.api_url());
    assert_eq!(c.get(&url).send().await.unwrap().status(), StatusCode::OK);
    s.stop().await;
    assert!(client().get(&url).send().await.is_err());
}

// ---------------------------------------------------------------------------
// Security headers, CORS dev origins, leaky errors, uploads, frontend delivery.

const HSTS_FULL: &str = "max-age=31536000; includeSubDomains";
const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'";
const CSP_SAMEORIGIN: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
base-uri 'self'; frame-ancestors 'self'";
const CSP_UNSAFE: &str = "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'";
const PERMISSIONS: &str = "camera=(), microphone=(), geolocation=()";
/// Every header the hardened profile adds, with its value.
const HARDENED: [(&str, &str); 6] = [
    ("strict-transport-security", HSTS_FULL),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("content-security-policy", CSP),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    ("permissions-policy", PERMISSIONS),
];
const JS: &str = "/assets/index-3f9a1c.js";
const CSS: &str = "/assets/index-8b2e4d.css";
const SOURCE_MAP: &str = "/assets/index-3f9a1c.js.map";

fn faults_of(specs: &[&str]) -> Faults {
    let mut f = Faults::default();
    for spec in specs {
        f.apply_spec(spec).expect("valid fault spec");
    }
    f
}

/// A client that neither asks for nor decodes gzip: headers and bodies as sent.
fn raw_client() -> Client {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .no_gzip()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// One response of each kind nginx produces: (label, status, headers, body).
async fn every_kind_of_response(
    c: &Client,
    s: &DemoServer,
) -> Vec<(String, StatusCode, HeaderMap)> {
    let token = token_for(c, s, "probe").await;
    let id = new_trip(c, s, &token).await;
    let (_, photo) =
        json_of(upload(c, s, &token, &id, "photo", "image/png", png(1024, 1)).await).await;
    let storage = format!(
        "{}{}",
        s.base_url(),
        photo["data"]["photo_url"].as_str().unwrap()
    );
    let mut out = Vec::new();
    for (label, url) in [
        ("spa", s.base_url()),
        ("spa fallback", format!("{}/health", s.base_url())),
        ("js", format!("{}{JS}", s.base_url())),
        ("css", format!("{}{CSS}", s.base_url())),
        ("storage", storage),
        ("api", format!("{}/health", s.api_url())),
        ("api 404", format!("{}/trips/missing", s.api_url())),
        ("api bare 301", s.api_url()),
    ] {
        let resp = c.get(&url).send().await.unwrap();
        out.push((label.to_owned(), resp.status(), resp.headers().clone()));
    }
    let resp = c.post(s.base_url()).send().await.unwrap();
    out.push(("nginx 405".into(), resp.status(), resp.headers().clone()));
    let resp = upload(
        c,
        s,
        &token,
        &id,
        "photo",
        "image/png",
        png(11 * 1024 * 1024, 2),
    )
    .await;
    out.push(("413".into(), resp.status(), resp.headers().clone()));
    let resp = preflight(c, s, ALLOWED_ORIGIN).await;
    out.push(("preflight".into(), resp.status(), resp.headers().clone()));
    let expected = [200, 200, 200, 200, 200, 200, 404, 301, 405, 413, 200];
    let statuses: Vec<u16> = out.iter().map(|(_, st, _)| st.as_u16()).collect();
    assert_eq!(statuses, expected, "{out:?}");
    out
}

#[tokio::test]
async fn hardened_security_headers_on_every_response_by_default() {
    let s = demo(&[]).await;
    let c = client();
    for (label, _, h) in every_kind_of_response(&c, &s).await {
        for (name, value) in HARDENED {
            assert_eq!(header(&h, name), Some(value), "{name} on {label}");
        }
        assert_eq!(header(&h, "server"), Some("nginx"), "{label}");
        for absent in ["x-xss-protection", "x-powered-by", "set-cookie"] {
            assert!(!h.contains_key(absent), "{absent} on {label}");
        }
    }
    // nginx's own error pages are signed without a version, too.
    let resp = c.post(s.base_url()).send().await.unwrap();
    let page = resp.text().await.unwrap();
    assert!(page.contains("<hr><center>nginx</center>"), "{page}");
    s.stop().await;
}

#[tokio::test]
async fn as_committed_headers_match_todays_contravento_exactly() {
    let s = demo(&["headers=as-committed"]).await;
    let c = client();
    for (label, _, h) in every_kind_of_response(&c, &s).await {
        // `add_header` in `location /api/` reaches what the backend answered.
        let api = ["api", "api 404", "preflight"].contains(&label.as_str());
        let expected = [
            ("x-frame-options", "SAMEORIGIN"),
            ("x-content-type-options", "nosniff"),
            ("x-xss-protection", "1; mode=block"),
            ("referrer-policy", "strict-origin-when-cross-origin"),
        ];
        for (name, value) in expected {
            assert_eq!(header(&h, name), api.then_some(value), "{name} on {label}");
        }
        for absent in [
            "strict-transport-security",
            "content-security-policy",
            "permissions-policy",
            "set-cookie",
            "x-powered-by",
        ] {
            assert!(!h.contains_key(absent), "{absent} on {label}");
        }
        assert_eq!(header(&h, "server"), Some("nginx/1.22.1"), "{label}");
    }
    let page = c
        .post(s.base_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<hr><center>nginx/1.22.1</center>"), "{page}");
    s.stop().await;
}

/// Headers of the SPA home page and of `/api/health` under `specs`.
async fn spa_and_api_headers(c: &Client, s: &DemoServer, specs: &[&str]) -> [HeaderMap; 2] {
    s.set_faults(faults_of(specs));
    let spa = c.get(s.base_url()).send().await.unwrap();
    let api = c
        .get(format!("{}/health", s.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (spa.status(), api.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    [spa.headers().clone(), api.headers().clone()]
}

#[tokio::test]
async fn each_header_fault_breaks_exactly_one_thing() {
    let s = demo(&[]).await;
    let c = client();
    // (fault, header, expected value on both the SPA and the API)
    let cases: [(&str, &str, Option<&str>); 4] = [
        ("hsts=missing", "strict-transport-security", None),
        (
            "hsts=short",
            "strict-transport-security",
            Some("max-age=86400"),
        ),
        ("xfo=sameorigin", "x-frame-options", Some("SAMEORIGIN")),
        ("csp=unsafe", "content-security-policy", Some(CSP_UNSAFE)),
    ];
    for (spec, broken, value) in cases {
        for h in spa_and_api_headers(&c, &s, &[spec]).await {
            for (name, good) in HARDENED {
                let expected = if name == broken {
                    value
                } else if spec == "xfo=sameorigin" && name == "content-security-policy" {
                    // Same-origin framing is allowed by the CSP too (it wins over XFO).
                    Some(CSP_SAMEORIGIN)
                } else {
                    Some(good)
                };
                assert_eq!(header(&h, name), expected, "{name} under {spec}");
            }
            assert_eq!(header(&h, "server"), Some("nginx"), "{spec}");
            assert!(!h.contains_key("set-cookie"), "{spec}");
        }
    }

    let [spa, api] = spa_and_api_headers(&c, &s, &["server-version"]).await;
    for h in [&spa, &api] {
        assert_eq!(header(h, "server"), Some("nginx/1.22.1"));
        for (name, good) in HARDENED {
            assert_eq!(header(h, name), Some(good), "{name} under server-version");
        }
    }
    assert_eq!(header(&api, "x-powered-by"), Some("FastAPI/0.115.0"));
    assert_eq!(header(&spa, "x-powered-by"), None);
    let page = c
        .post(s.base_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("nginx/1.22.1"), "{page}");

    let [spa, api] = spa_and_api_headers(&c, &s, &["insecure-cookie"]).await;
    assert_eq!(header(&spa, "set-cookie"), Some("cv_lang=es; Path=/"));
    assert_eq!(spa.get_all("set-cookie").iter().count(), 1);
    assert_eq!(header(&api, "set-cookie"), None);
    for url in [
        format!("{}/trips/x", s.base_url()),
        format!("{}{JS}", s.base_url()),
    ] {
        let h = c.get(&url).send().await.unwrap().headers().clone();
        let spa_html = header(&h, "content-type") == Some("text/html");
        assert_eq!(h.contains_key("set-cookie"), spa_html, "{url}");
    }

    for h in spa_and_api_headers(&c, &s, &["no-security-headers"]).await {
        for (name, _) in HARDENED {
            assert!(!h.contains_key(name), "{name} under no-security-headers");
        }
        for name in SECURITY_HEADERS {
            assert!(!h.contains_key(name), "{name} under no-security-headers");
        }
        assert_eq!(header(&h, "server"), Some("nginx"));
    }

    // Back to the defaults at run time.
    for h in spa_and_api_headers(&c, &s, &[]).await {
        for (name, good) in HARDENED {
            assert_eq!(header(&h, name), Some(good), "{name} after reset");
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn cors_allow_http_accepts_dev_origins() {
    let s = demo(&[]).await;
    let c = client();
    let dev_origins = [
        "http://contravento.example",
        "http://evil.example",
        "http://localhost:5173",
        "https://localhost:3000",
        "http://127.0.0.1:8080",
        "https://127.0.0.1",
    ];
    // Starlette with the configured origins refuses them all.
    for origin in dev_origins {
        let resp = preflight(&c, &s, origin).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{origin}");
        assert_eq!(header(resp.headers(), "access-control-allow-origin"), None);
    }

    s.set_faults(faults_of(&["cors=allow-http"]));
    for origin in dev_origins.into_iter().chain([ALLOWED_ORIGIN]) {
        let resp = preflight(&c, &s, origin).await;
        assert_eq!(resp.status(), StatusCode::OK, "{origin}");
        let h = resp.headers();
        assert_eq!(header(h, "access-control-allow-origin"), Some(origin));
        assert_eq!(header(h, "access-control-allow-credentials"), Some("true"));
        assert_eq!(header(h, "vary"), Some("Origin"));
        assert_eq!(header(h, "access-control-max-age"), Some("600"));
        let resp = c
            .get(format!("{}/health", s.api_url()))
            .header(header::ORIGIN, origin)
            .send()
            .await
            .unwrap();
        let h = resp.headers();
        assert_eq!(header(h, "access-control-allow-origin"), Some(origin));
        assert_eq!(header(h, "access-control-allow-credentials"), Some("true"));
        assert_eq!(header(h, "vary"), Some("Origin"));
    }
    // A foreign https origin is still refused, Starlette-style.
    let resp = preflight(&c, &s, EVIL_ORIGIN).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let h = resp.headers().clone();
    assert_eq!(header(&h, "access-control-allow-origin"), None);
    assert_eq!(header(&h, "access-control-allow-credentials"), Some("true"));
    assert_eq!(resp.text().await.unwrap(), "Disallowed CORS origin");
    let h = c
        .get(format!("{}/health", s.api_url()))
        .header(header::ORIGIN, EVIL_ORIGIN)
        .send()
        .await
        .unwrap()
        .headers()
        .clone();
    assert_eq!(header(&h, "access-control-allow-origin"), None);
    assert_eq!(header(&h, "vary"), None);
    s.stop().await;
}

/// The three requests a leak check sends: (label, response).
async fn leak_probes(c: &Client, s: &DemoServer) -> Vec<(&'static str, Response)> {
    let unknown = c
        .get(format!("{}/smokeprobe-missing-xyz", s.api_url()))
        .send()
        .await
        .unwrap();
    let malformed = c
        .post(format!("{}/auth/login", s.api_url()))
        .header(header::CONTENT_TYPE, "application/json")
        .body(r#"{"login": "#)
        .send()
        .await
        .unwrap();
    let method = c
        .put(format!("{}/health", s.api_url()))
        .send()
        .await
        .unwrap();
    vec![
        ("unknown path", unknown),
        ("malformed json", malformed),
        ("wrong method", method),
    ]
}

const LEAK_MARKERS: [&str; 5] = ["Traceback", "File \"", "SQL", "/app/", ".py"];

#[tokio::test]
async fn normal_error_answers_leak_nothing() {
    let s = demo(&[]).await;
    let c = client();
    let mut answers = Vec::new();
    for (label, resp) in leak_probes(&c, &s).await {
        let status = resp.status();
        let h = resp.headers().clone();
        assert_eq!(
            header(&h, "content-type"),
            Some("application/json"),
            "{label}"
        );
        let text = resp.text().await.unwrap();
        for marker in LEAK_MARKERS {
            assert!(!text.contains(marker), "{label}: {text}");
        }
        answers.push((status, serde_json::from_str::<Value>(&text).unwrap(), h));
    }
    assert_eq!(
        (answers[0].0, &answers[0].1),
        (StatusCode::NOT_FOUND, &json!({"detail": "Not Found"}))
    );
    assert_eq!(
        (answers[1].0, &answers[1].1),
        (
            StatusCode::BAD_REQUEST,
            &json!({"success": false, "data": null, "error": {
                "code": "VALIDATION_ERROR",
                "message": "Error de validación en el campo 'body': JSON decode error",
                "field": "body",
            }})
        )
    );
    assert_eq!(
        (answers[2].0, &answers[2].1),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"detail": "Method Not Allowed"})
        )
    );
    assert_eq!(header(&answers[2].2, "allow"), Some("GET"));
    s.stop().await;
}

#[tokio::test]
async fn leak_errors_turns_the_leak_probes_into_tracebacks() {
    let s = demo(&["leak-errors"]).await;
    let c = client();
    let frame = regex::Regex::new(r#"File "/app/src/[a-z_/]+\.py", line \d+"#).unwrap();
    for (label, resp) in leak_probes(&c, &s).await {
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR, "{label}");
        assert_eq!(
            header(resp.headers(), "content-type"),
            Some("text/plain; charset=utf-8"),
            "{label}"
        );
        let text = resp.text().await.unwrap();
        assert!(
            text.starts_with("Traceback (most recent call last):\n"),
            "{label}: {text}"
        );
        assert!(frame.is_match(&text), "{label}: {text}");
        assert!(text.contains("[SQL: "), "{label}: {text}");
        assert!(
            text.contains("/usr/local/lib/python3.12/"),
            "{label}: {text}"
        );
    }
    // What works keeps working: the healthy answers and the trailing-slash redirect.
    let resp = c
        .get(format!("{}/health", s.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = c
        .get(format!("{}/trips/", s.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    let (status, body) = login_as(&c, &s, "nobody_here_xyz", "Whatever-1!").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS")
    );
    // A well-formed body that fails validation is still the 400.
    let resp = post_json(
        &c,
        format!("{}/auth/login", s.api_url()),
        None,
        json!({"username": "x"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    s.set_faults(Faults::default());
    for (label, resp) in leak_probes(&c, &s).await {
        assert!(
            resp.status().is_client_error(),
            "{label} after the fault is lifted"
        );
    }
    s.stop().await;
}

async fn upload_named(
    c: &Client,
    s: &DemoServer,
    token: &str,
    trip: &str,
    file_name: &str,
    mime: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let part = Part::bytes(bytes)
        .file_name(file_name.to_owned())
        .mime_str(mime)
        .unwrap();
    let resp = c
        .post(format!("{}/trips/{trip}/photos", s.api_url()))
        .bearer_auth(token)
        .multipart(Form::new().part("photo", part))
        .send()
        .await
        .unwrap();
    json_of(resp).await
}

#[tokio::test]
async fn uploads_decode_and_sanitise_by_default() {
    let s = demo(&[]).await;
    let c = client();
    let token = token_for(&c, &s, "probe").await;
    let id = new_trip(&c, &s, &token).await;
    let (status, body) = upload_named(
        &c,
        &s,
        &token,
        &id,
        "../../etc/probe.png",
        "image/png",
        png(2048, 3),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let url = body["data"]["photo_url"].as_str().unwrap();
    let prefix = "/storage/trip_photos/";
    assert!(
        url.starts_with(prefix) && url.ends_with("_optimized.jpg"),
        "{url}"
    );
    assert!(url.contains(&format!("/{id}/")), "{url}");
    assert!(
        !url.contains("..") && !url.contains("probe") && !url.contains("etc"),
        "{url}"
    );
    let resp = c
        .get(format!("{}{url}", s.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let (status, body) = upload_named(
        &c,
        &s,
        &token,
        &id,
        "x.jpg",
        "image/jpeg",
        b"GIF89a not a jpeg".to_vec(),
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
    );
    assert_eq!(
        body["error"]["message"],
        "El archivo no es una imagen válida"
    );
    s.stop().await;
}

#[tokio::test]
async fn upload_trusts_type_fault_takes_any_bytes_and_the_client_name() {
    let s = demo(&["upload-trusts-type"]).await;
    let c = client();
    let token = token_for(&c, &s, "probe").await;
    let id = new_trip(&c, &s, &token).await;
    for mime in ["image/jpeg", "image/png", "image/webp"] {
        let (status, body) = upload_named(
            &c,
            &s,
            &token,
            &id,
            "../../etc/probe.png",
            mime,
            b"<?php system($_GET['c']); ?>".to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{mime}: {body}");
        let url = body["data"]["photo_url"].as_str().unwrap();
        assert!(url.starts_with("/storage/trip_photos/"), "{url}");
        assert!(
            url.ends_with(&format!("/{id}/../../etc/probe.png")),
            "{url}"
        );
    }
    // The declared type is still checked.
    let (status, body) = upload_named(
        &c,
        &s,
        &token,
        &id,
        "a.gif",
        "image/gif",
        b"GIF89a".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"]["message"],
        "Formato de archivo no soportado. Usa JPG, PNG o WebP"
    );
    assert_eq!(
        s.trips().iter().find(|t| t.id == id).map(|t| t.photos),
        Some(3)
    );
    s.stop().await;
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// (headers, raw body bytes) of a GET with the given Accept-Encoding.
async fn fetch_raw(c: &Client, url: &str, accept_encoding: Option<&str>) -> (HeaderMap, Vec<u8>) {
    let mut req = c.get(url);
    if let Some(ae) = accept_encoding {
        req = req.header(header::ACCEPT_ENCODING, ae);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{url}");
    let h = resp.headers().clone();
    (h, resp.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn frontend_is_gzipped_typed_and_has_no_source_maps_by_default() {
    let s = demo(&[]).await;
    let c = raw_client();
    for (path, content_type) in [
        (JS, "application/javascript"),
        (CSS, "text/css"),
        ("/", "text/html"),
        ("/trips/some-deep-link", "text/html"),
    ] {
        let url = format!("{}{path}", s.base_url());
        let (plain_h, plain) = fetch_raw(&c, &url, None).await;
        assert_eq!(
            header(&plain_h, "content-type"),
            Some(content_type),
            "{path}"
        );
        assert_eq!(header(&plain_h, "content-encoding"), None, "{path}");
        assert_eq!(header(&plain_h, "vary"), Some("Accept-Encoding"), "{path}");
        for ae in ["gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.8", "*"] {
            let (h, body) = fetch_raw(&c, &url, Some(ae)).await;
            assert_eq!(header(&h, "content-encoding"), Some("gzip"), "{path} {ae}");
            assert_eq!(header(&h, "vary"), Some("Accept-Encoding"), "{path} {ae}");
            assert_eq!(header(&h, "content-type"), Some(content_type), "{path}");
            assert_eq!(
                header(&h, "content-length"),
                Some(body.len().to_string().as_str())
            );
            assert_eq!(gunzip(&body), plain, "{path} {ae}");
        }
        for ae in ["br", "identity", "gzip;q=0", "deflate, gzip;q=0.0"] {
            let (h, body) = fetch_raw(&c, &url, Some(ae)).await;
            assert_eq!(header(&h, "content-encoding"), None, "{path} {ae}");
            assert_eq!(body, plain, "{path} {ae}");
        }
    }
    let (h, js) = fetch_raw(&c, &format!("{}{JS}", s.base_url()), None).await;
    assert!(js.len() < 10 * 1024, "{}", js.len());
    assert!(!String::from_utf8_lossy(&js).contains("sourceMappingURL"));
    assert_eq!(
        header(&h, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    // The map falls through to the SPA: 200, but HTML, so "not served".
    let (h, body) = fetch_raw(&c, &format!("{}{SOURCE_MAP}", s.base_url()), None).await;
    assert_eq!(header(&h, "content-type"), Some("text/html"));
    assert!(String::from_utf8_lossy(&body).contains("<div id=\"root\"></div>"));
    s.stop().await;
}

#[tokio::test]
async fn frontend_delivery_faults() {
    let s = demo(&["source-maps"]).await;
    let c = raw_client();
    let js_url = format!("{}{JS}", s.base_url());
    let (_, js) = fetch_raw(&c, &js_url, None).await;
    let js = String::from_utf8(js).unwrap();
    assert!(
        js.trim_end()
            .ends_with("//# sourceMappingURL=index-3f9a1c.js.map"),
        "{js}"
    );
    let (h, map) = fetch_raw(&c, &format!("{}{SOURCE_MAP}", s.base_url()), None).await;
    assert_eq!(header(&h, "content-type"), Some("application/json"));
    let map: Value = serde_json::from_slice(&map).unwrap();
    assert_eq!(map["version"], 3);
    assert!(!map["sources"].as_array().unwrap().is_empty(), "{map}");
    assert!(!map["mappings"].as_str().unwrap().is_empty(), "{map}");

    s.set_faults(faults_of(&["big-bundle"]));
    let (_, big) = fetch_raw(&c, &js_url, None).await;
    assert!(
        (1_900_000..=2_300_000).contains(&big.len()),
        "{} bytes",
        big.len()
    );
    let (h, big_gz) = fetch_raw(&c, &js_url, Some("gzip")).await;
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    assert!(big_gz.len() > 600 * 1024, "{} bytes gzipped", big_gz.len());
    assert_eq!(gunzip(&big_gz), big);
    let (_, again) = fetch_raw(&c, &js_url, None).await;
    assert_eq!(again, big, "deterministic");
    assert!(!String::from_utf8_lossy(&big).contains("sourceMappingURL"));

    s.set_faults(faults_of(&["no-gzip"]));
    for path in [JS, CSS, "/"] {
        let (h, body) = fetch_raw(&c, &format!("{}{path}", s.base_url()), Some("gzip")).await;
        assert_eq!(header(&h, "content-encoding"), None, "{path}");
        assert_eq!(header(&h, "vary"), None, "{path}");
        assert!(body.len() < 10 * 1024, "{path}: the small bundle is back");
    }
    s.stop().await;
}

// ---------------------------------------------------------------------------
// TLS and the HTTP → HTTPS redirect.

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn ca_roots(s: &DemoServer) -> rustls::RootCertStore {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = s.ca_pem().expect("a TLS demo has a CA");
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA cert");
    }
    assert_eq!(roots.len(), 1);
    roots
}

/// A client that trusts the demo CA and nothing else.
fn tls_client(s: &DemoServer) -> Client {
    let tls = rustls::ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(ca_roots(s))
        .with_no_client_auth();
    Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn tls_demo(mode: TlsMode) -> DemoServer {
    demo_with(DemoOptions {
        tls: Some(mode),
        ..DemoOptions::default()
    })
    .await
}

/// Accepts any certificate (to look at what the server presents).
#[derive(Debug)]
struct AcceptAnything(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A raw TLS handshake to the site: Ok((served chain, ALPN)) or the handshake error.
async fn handshake(
    s: &DemoServer,
    verify: bool,
) -> Result<(Vec<Vec<u8>>, Option<Vec<u8>>), std::io::Error> {
    let builder = rustls::ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .unwrap();
    let mut config = if verify {
        builder
            .with_root_certificates(ca_roots(s))
            .with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnything(ring())))
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(s.addr()).await?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = connector.connect(name, tcp).await?;
    let conn = tls.get_ref().1;
    let chain = conn
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .map(|c| c.to_vec())
        .collect();
    Ok((chain, conn.alpn_protocol().map(<[u8]>::to_vec)))
}

struct Leaf {
    not_before: i64,
    not_after: i64,
    dns: Vec<String>,
    ips: Vec<std::net::IpAddr>,
    issuer: String,
    subject: String,
}

fn parse_cert(der: &[u8]) -> Leaf {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).expect("X.509");
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    if let Some(san) = cert.subject_alternative_name().expect("SAN extension") {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns.push((*d).to_owned()),
                GeneralName::IPAddress(b) => ips.push(match b.len() {
                    4 => std::net::IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()),
                    _ => std::net::IpAddr::from(<[u8; 16]>::try_from(*b).unwrap()),
                }),
                _ => {}
            }
        }
    }
    let cn = |name: &x509_parser::x509::X509Name<'_>| {
        name.iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    Leaf {
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        dns,
        ips,
        issuer: cn(cert.issuer()),
        subject: cn(cert.subject()),
    }
}

const DAY: i64 = 86_400;

fn now() -> i64 {
    smokeprobe::builtins::unix_now() as i64
}

/// Asserts `t` is `days` from now, give or take an hour.
fn about_days_from_now(t: i64, days: i64, what: &str) {
    let expected = now() + days * DAY;
    assert!((t - expected).abs() < 3600, "{what}: {t} vs {expected}");
}

#[tokio::test]
async fn tls_valid_and_expiring_soon_are_trusted_via_the_demo_ca() {
    for (mode, days_left) in [(TlsMode::Valid, 90), (TlsMode::ExpiringSoon, 5)] {
        let s = tls_demo(mode).await;
        assert_eq!(s.tls_mode(), Some(mode));
        let port = s.addr().port();
        assert_eq!(s.base_url(), format!("https://127.0.0.1:{port}"));
        assert_eq!(s.api_url(), format!("https://127.0.0.1:{port}/api"));
        assert!(s.http_url().starts_with("http://127.0.0.1:"));
        assert_ne!(s.http_url(), format!("http://127.0.0.1:{port}"));
        assert!(
            s.ca_pem()
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );

        let c = tls_client(&s);
        let resp = c
            .get(format!("{}/health", s.api_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.version(), reqwest::Version::HTTP_11);
        assert_eq!(
            header(resp.headers(), "strict-transport-security"),
            Some(HSTS_FULL)
        );
        let (status, body) = json_of(resp).await;
        assert_eq!(
            (status, &body["data"]["status"]),
            (StatusCode::OK, &json!("healthy"))
        );
        // The whole site is there: login, the SPA, the fault endpoint.
        token_for(&c, &s, "probe").await;
        let resp = c.get(s.base_url()).send().await.unwrap();
        assert_eq!(header(resp.headers(), "content-type"), Some("text/html"));
        let resp = c
            .get(format!("{}/__demo/faults", s.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        // Starlette's trailing-slash redirect keeps the scheme it was reached by.
        let resp = c
            .get(format!("{}/trips/", s.api_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(
            header(resp.headers(), "location"),
            Some(format!("{}/trips", s.base_url()).as_str())
        );

        let (chain, alpn) = handshake(&s, true).await.expect("trusted handshake");
        assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]), "{mode:?}");
        assert_eq!(chain.len(), 2, "leaf + CA");
        let leaf = parse_cert(&chain[0]);
        let ca = parse_cert(&chain[1]);
        assert_eq!(leaf.issuer, "smokeprobe demo CA");
        assert_eq!(ca.subject, "smokeprobe demo CA");
        assert_eq!(leaf.dns, ["localhost"]);
        assert_eq!(
            leaf.ips,
            [
                "127.0.0.1".parse::<std::net::IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        about_days_from_now(leaf.not_before, -1, "not_before");
        about_days_from_now(leaf.not_after, days_left, "not_after");
        s.stop().await;
    }
}

#[tokio::test]
async fn tls_bad_certificates_fail_the_handshake() {
    for (mode, error) in [
        (TlsMode::Expired, "Expired"),
        (TlsMode::SelfSigned, "UnknownIssuer"),
        (TlsMode::WrongHost, "NotValidForName"),
    ] {
        let s = tls_demo(mode).await;
        let err = tls_client(&s)
            .get(format!("{}/health", s.api_url()))
            .send()
            .await
            .expect_err("untrusted certificate");
        assert!(err.is_connect(), "{mode:?}: {err:?}");
        let err = handshake(&s, true)
            .await
            .expect_err("verified handshake fails");
        assert!(format!("{err:?}").contains(error), "{mode:?}: {err:?}");

        let (chain, _) = handshake(&s, false).await.expect("unverified handshake");
        let leaf = parse_cert(&chain[0]);
        match mode {
            TlsMode::Expired => {
                assert_eq!(chain.len(), 2);
                about_days_from_now(leaf.not_before, -60, "not_before");
                about_days_from_now(leaf.not_after, -1, "not_after");
                assert_eq!(leaf.issuer, "smokeprobe demo CA");
            }
            TlsMode::SelfSigned => {
                assert_eq!(chain.len(), 1, "leaf only");
                assert_eq!(leaf.issuer, leaf.subject);
                assert_ne!(leaf.issuer, "smokeprobe demo CA");
                assert_eq!(leaf.dns, ["localhost"]);
                about_days_from_now(leaf.not_after, 90, "not_after");
            }
            _ => {
                assert_eq!(chain.len(), 2);
                assert_eq!(leaf.dns, ["wrong-host.invalid"]);
                assert!(leaf.ips.is_empty());
                assert_eq!(leaf.issuer, "smokeprobe demo CA");
                about_days_from_now(leaf.not_after, 90, "not_after");
            }
        }
        s.stop().await;
    }
}

#[tokio::test]
async fn failed_handshakes_never_stop_the_https_listener() {
    use tokio::io::AsyncWriteExt;
    let s = tls_demo(TlsMode::Valid).await;
    // Plain HTTP to the TLS port, a client that trusts nothing, a half-open socket.
    let mut garbage = tokio::net::TcpStream::connect(s.addr()).await.unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let stalled = tokio::net::TcpStream::connect(s.addr()).await.unwrap();
    assert!(
        client()
            .get(format!("{}/health", s.api_url()))
            .send()
            .await
            .is_err()
    );
    let c = tls_client(&s);
    for _ in 0..3 {
        let resp = c
            .get(format!("{}/health", s.api_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    drop((garbage, stalled));
    s.stop().await;
}

#[tokio::test]
async fn plain_http_redirects_to_https() {
    let s = tls_demo(TlsMode::Valid).await;
    let c = client();
    let port = s.addr().port();
    let expected = format!("https://127.0.0.1:{port}/some/path?q=1");
    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
    ] {
        let resp = c
            .request(method.clone(), format!("{}/some/path?q=1", s.http_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY, "{method}");
        assert_eq!(header(resp.headers(), "location"), Some(expected.as_str()));
        assert_eq!(header(resp.headers(), "server"), Some("nginx"));
        assert_eq!(header(resp.headers(), "content-type"), Some("text/html"));
        let body = resp.text().await.unwrap();
        assert!(
            body.contains("<title>301 Moved Permanently</title>"),
            "{body}"
        );
    }
    let resp = c
        .get(format!("{}/api/health", s.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(resp.headers(), "location"),
        Some(format!("https://127.0.0.1:{port}/api/health").as_str())
    );
    // The host comes from the Host header, its port replaced by the HTTPS one.
    let resp = c
        .get(format!("{}/x", s.http_url()))
        .header(header::HOST, "contravento.example:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(resp.headers(), "location"),
        Some(format!("https://contravento.example:{port}/x").as_str())
    );
    for (host, location_host) in [
        ("[::1]:8080", "[::1]"),
        ("LocalHost", "localhost"),
        ("evil.example/x?", "127.0.0.1"),
        ("", "127.0.0.1"),
    ] {
        let resp = c
            .get(format!("{}/x", s.http_url()))
            .header(header::HOST, host)
            .send()
            .await
            .unwrap();
        assert_eq!(
            header(resp.headers(), "location"),
            Some(format!("https://{location_host}:{port}/x").as_str()),
            "Host: {host}"
        );
    }
    // Following the redirect with a client that trusts the CA lands on the site.
    let follow = {
        let tls = rustls::ClientConfig::builder_with_provider(ring())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(ca_roots(&s))
            .with_no_client_auth();
        Client::builder()
            .tls_backend_preconfigured(tls)
            .no_proxy()
            .build()
            .unwrap()
    };
    let resp = follow
        .get(format!("{}/api/health", s.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.url().as_str(),
        format!("https://127.0.0.1:{port}/api/health")
    );
    assert_eq!(resp.status(), StatusCode::OK);

    let redirect = |spec: &str| {
        s.set_faults(faults_of(&[spec]));
        c.get(format!("{}/some/path?q=1", s.http_url())).send()
    };
    let resp = redirect("redirect=302").await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(header(resp.headers(), "location"), Some(expected.as_str()));
    let resp = redirect("redirect=root").await.unwrap();
    assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        header(resp.headers(), "location"),
        Some(format!("https://127.0.0.1:{port}/").as_str())
    );
    let resp = redirect("redirect=none").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(resp.headers(), "location"), None);
    assert_eq!(header(resp.headers(), "content-type"), Some("text/html"));
    let (status, body) = json_of(
        c.get(format!("{}/api/health", s.http_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &body["data"]["status"]),
        (StatusCode::OK, &json!("healthy"))
    );
    // Plain HTTP's own trailing-slash redirect says http.
    let resp = c
        .get(format!("{}/api/trips/", s.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(resp.headers(), "location"),
        Some(format!("{}/trips", s.http_url()).as_str())
    );
    let resp = redirect("redirect=301").await.unwrap();
    assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY);
    s.stop().await;
}

#[tokio::test]
async fn without_tls_there_is_one_plain_listener() {
    let s = demo(&[]).await;
    assert_eq!(s.tls_mode(), None);
    assert_eq!(s.ca_pem(), None);
    assert_eq!(s.http_url(), s.base_url());
    assert_eq!(s.base_url(), format!("http://{}", s.addr()));
    s.stop().await;
}

#[tokio::test]
async fn stop_closes_both_tls_listeners() {
    let s = tls_demo(TlsMode::Valid).await;
    let c = tls_client(&s);
    let https = format!("{}/api/health", s.base_url());
    let http = format!("{}/api/health", s.http_url());
    assert_eq!(c.get(&https).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        client().get(&http).send().await.unwrap().status(),
        StatusCode::MOVED_PERMANENTLY
    );
    let (https_addr, http_addr) = (s.addr(), s.http_url());
    s.stop().await;
    assert!(tokio::net::TcpStream::connect(https_addr).await.is_err());
    let http_addr = http_addr.trim_start_matches("http://").to_owned();
    assert!(tokio::net::TcpStream::connect(http_addr).await.is_err());
    assert!(c.get(&https).send().await.is_err());
}

#[test]
fn tls_modes_parse_and_print() {
    for (name, mode) in [
        ("valid", TlsMode::Valid),
        ("expiring-soon", TlsMode::ExpiringSoon),
        ("expired", TlsMode::Expired),
        ("self-signed", TlsMode::SelfSigned),
        ("wrong-host", TlsMode::WrongHost),
    ] {
        assert_eq!(name.parse::<TlsMode>(), Ok(mode));
        assert_eq!(mode.to_string(), name);
    }
    let err = "sloppy".parse::<TlsMode>().unwrap_err();
    for name in [
        "valid",
        "expiring-soon",
        "expired",
        "self-signed",
        "wrong-host",
        "sloppy",
    ] {
        assert!(err.contains(name), "{err}");
    }
}

#[tokio::test]
async fn latency_ranges_are_uniform_between_their_bounds() {
    let mut f = Faults::default();
    f.apply_spec("latency:/api/health=20ms..60ms").unwrap();
    assert_eq!(
        f.latency[0],
        LatencyFault {
            path: "/api/health".into(),
            method: None,
            delay_ms: 20,
            jitter_ms: 40,
        }
    );
    assert!(
        Faults::default()
            .apply_spec("latency:/x=60ms..20ms")
            .is_err()
    );
    let s = demo(&["latency:/api/health=20ms..60ms"]).await;
    let c = client();
    let mut took = Vec::new();
    for _ in 0..12 {
        let t = Instant::now();
        let r = c
            .get(format!("{}/health", s.api_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        took.push(t.elapsed());
    }
    assert!(
        took.iter().all(|d| *d >= Duration::from_millis(20)),
        "{took:?}"
    );
    // Not a constant: the delays spread over the range.
    let (min, max) = (took.iter().min().unwrap(), took.iter().max().unwrap());
    assert!(*max - *min >= Duration::from_millis(5), "{took:?}");
    s.stop().await;
}

/// `GET /api/users/{username}/trips{query}`, with `token` as Bearer if given.
async fn user_trips(
    c: &Client,
    s: &DemoServer,
    username: &str,
    query: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = c.get(format!("{}/users/{username}/trips{query}", s.api_url()));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    json_of(req.send().await.expect("user trips")).await
}

/// The trip ids of a `GET /users/{username}/trips` answer, in order.
fn listed_ids(body: &Value) -> Vec<String> {
    body["data"]["trips"]
        .as_array()
        .unwrap_or_else(|| panic!("no data.trips: {body}"))
        .iter()
        .map(|t| t["trip_id"].as_str().expect("trip_id").to_owned())
        .collect()
}

#[tokio::test]
async fn users_trips_lists_drafts_only_for_their_owner() {
    let s = demo(&[]).await;
    let c = client();
    let probe = token_for(&c, &s, "probe").await;
    let other = token_for(&c, &s, OTHER_USERNAME).await;
    let published = new_trip(&c, &s, &probe).await;
    let (status, body) = publish(&c, &s, &probe, &published).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let draft = new_trip(&c, &s, &probe).await;

    // The owner sees both, newest first, in the envelope.
    let (status, body) = user_trips(&c, &s, "probe", "", Some(&probe)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["success"], &body["error"]),
        (&json!(true), &Value::Null)
    );
    assert_eq!(listed_ids(&body), [draft.as_str(), published.as_str()]);
    let data = &body["data"];
    assert_eq!(
        (&data["count"], &data["limit"], &data["offset"]),
        (&json!(2), &json!(50), &json!(0))
    );
    let item = &data["trips"][0];
    let mut keys: Vec<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "description",
            "distance_km",
            "end_date",
            "is_private",
            "photo_count",
            "start_date",
            "status",
            "tag_names",
            "thumbnail_url",
            "title",
            "trip_id",
            "updated_at",
            "user_id",
        ]
    );
    assert_eq!(item["status"], "draft");
    assert_eq!(item["is_private"], false);
    assert_eq!(item["photo_count"], 0);
    assert_eq!(item["thumbnail_url"], Value::Null);
    assert_eq!(item["tag_names"], json!(["probe"]));
    assert_eq!(item["start_date"], "2025-06-01");
    assert_eq!(item["distance_km"], 42.5);
    // The same naive timestamps as `GET /trips/{id}` (no zone at all).
    let (_, full) = json_of(
        c.get(format!("{}/trips/{draft}", s.api_url()))
            .bearer_auth(&probe)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(item["created_at"], full["data"]["created_at"]);
    assert_eq!(item["user_id"], full["data"]["user_id"]);
    let created = item["created_at"].as_str().unwrap();
    assert_eq!(
        created.len(),
        "2026-11-26T00:37:10.787724".len(),
        "{created}"
    );
    assert_eq!(&created[10..11], "T");

    // The status filter.
    let (status, body) = user_trips(&c, &s, "probe", "?status=draft", Some(&probe)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(listed_ids(&body), [draft.as_str()]);
    let (_, body) = user_trips(&c, &s, "probe", "?status=published", Some(&probe)).await;
    assert_eq!(listed_ids(&body), [published.as_str()]);

    // Anonymous, another user, or a token that is not valid: published only.
    for token in [None, Some(other.as_str()), Some("not-a-real-token")] {
        let (status, body) = user_trips(&c, &s, "probe", "", token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(listed_ids(&body), [published.as_str()], "{token:?}");
        assert_eq!(body["data"]["count"], 1);
        let (_, body) = user_trips(&c, &s, "probe", "?status=draft", token).await;
        assert_eq!(listed_ids(&body), Vec::<String>::new(), "{token:?}");
    }
    // The other rider's seeded trips, newest first, with their photo.
    let (_, body) = user_trips(&c, &s, OTHER_USERNAME, "", None).await;
    let titles: Vec<&str> = body["data"]["trips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Vuelta al Moncayo en gravel",
            "Transpirenaica: etapa de Ansó"
        ]
    );
    assert_eq!(body["data"]["trips"][0]["photo_count"], 1);
    assert!(
        body["data"]["trips"][0]["thumbnail_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("/storage/") && u.ends_with("_thumb.jpg")),
        "{body}"
    );

    // limit and offset page through the list.
    let (_, body) = user_trips(&c, &s, "probe", "?limit=1", Some(&probe)).await;
    assert_eq!(listed_ids(&body), [draft.as_str()]);
    assert_eq!(
        (&body["data"]["count"], &body["data"]["limit"]),
        (&json!(1), &json!(1))
    );
    let (_, body) = user_trips(&c, &s, "probe", "?limit=1&offset=1", Some(&probe)).await;
    assert_eq!(listed_ids(&body), [published.as_str()]);
    assert_eq!(body["data"]["offset"], 1);
    let (_, body) = user_trips(&c, &s, "probe", "?offset=2&limit=100", Some(&probe)).await;
    assert_eq!(
        (listed_ids(&body).len(), &body["data"]["count"]),
        (0, &json!(0))
    );

    // A deleted draft is gone from the list.
    let resp = c
        .delete(format!("{}/trips/{draft}", s.api_url()))
        .bearer_auth(&probe)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, body) = user_trips(&c, &s, "probe", "?status=draft", Some(&probe)).await;
    assert_eq!(listed_ids(&body), Vec::<String>::new());
    s.stop().await;
}

#[tokio::test]
async fn users_trips_validates_its_query_and_knows_its_users() {
    let s = demo(&[]).await;
    let c = client();
    for (query, field) in [
        ("?status=archived", "status"),
        ("?status=DRAFT", "status"),
        ("?status=", "status"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=ten", "limit"),
        ("?offset=-1", "offset"),
        ("?offset=x", "offset"),
    ] {
        let (status, body) = user_trips(&c, &s, "probe", query, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(
            (error_code(&body), error_field(&body)),
            ("VALIDATION_ERROR", field),
            "{query}"
        );
    }
    // pydantic's words for the bound a value breaks.
    for (query, words) in [
        ("?limit=0", "greater than or equal to 1"),
        ("?limit=101", "less than or equal to 100"),
        ("?offset=-1", "greater than or equal to 0"),
    ] {
        let (_, body) = user_trips(&c, &s, "probe", query, None).await;
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.ends_with(&format!("Input should be {words}")),
            "{query}: {body}"
        );
    }
    for query in [
        "?limit=1",
        "?limit=100",
        "?offset=0",
        "?status=published&limit=100&offset=7",
    ] {
        let (status, body) = user_trips(&c, &s, "probe", query, None).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
    }

    for username in ["nobody_here", "PROBE"] {
        let (status, body) = user_trips(&c, &s, username, "", None).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::NOT_FOUND, "USER_NOT_FOUND"),
            "{username}: {body}"
        );
        assert_eq!(body["success"], false);
    }
    // Only GET; the route is in the OpenAPI listing.
    let resp = c
        .post(format!("{}/users/probe/trips", s.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(resp.headers(), "allow"), Some("GET"));
    let (_, openapi) = json_of(
        c.get(format!("{}/openapi.json", s.api_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        openapi["paths"]["/users/{username}/trips"]["get"].is_object(),
        "{openapi}"
    );

    // Database down: 500 like the other database-backed endpoints.
    s.set_faults(faults_of(&["db-down"]));
    let (status, body) = user_trips(&c, &s, "probe", "", None).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR")
    );
    s.stop().await;
}

#[tokio::test]
async fn a_failing_delete_fault_spares_everything_but_deletes() {
    let s = demo(&["error:DELETE:/api/trips=1:502"]).await;
    let c = client();
    let token = token_for(&c, &s, "probe").await;
    let id = new_trip(&c, &s, &token).await;
    let resp = c
        .delete(format!("{}/trips/{id}", s.api_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    let (status, body) = user_trips(&c, &s, "probe", "?status=draft", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(listed_ids(&body), [id.as_str()], "the trip stays");
    let resp = c
        .get(format!("{}/trips/{id}", s.api_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, body) = publish(&c, &s, &token, &id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(s.trips().iter().any(|t| t.id == id));
    s.stop().await;
}

const WRONG_PASSWORD: &str = "Wrong-Passw0rd!";

#[tokio::test]
async fn an_expired_lock_relocks_on_the_next_wrong_password() {
    let lock = Duration::from_millis(300);
    let s = demo_with(DemoOptions {
        lockout_duration: lock,
        ..DemoOptions::default()
    })
    .await;
    let c = client();
    let opts = DemoOptions::default();
    let user = opts.username.as_str();
    for attempt in 1..=4 {
        let (status, body) = login_as(&c, &s, user, WRONG_PASSWORD).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS"),
            "attempt {attempt}"
        );
    }
    let locked = |(status, body): (StatusCode, Value)| {
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::TOO_MANY_REQUESTS, "ACCOUNT_LOCKED"),
            "{body}"
        );
    };
    locked(login_as(&c, &s, user, WRONG_PASSWORD).await);
    locked(login_as(&c, &s, user, &opts.password).await);
    assert_eq!(s.failed_logins(user), 5);

    // The lock is over, but the count did not decay: one more wrong password
    // locks again at once.
    tokio::time::sleep(lock + Duration::from_millis(100)).await;
    locked(login_as(&c, &s, user, WRONG_PASSWORD).await);
    locked(login_as(&c, &s, user, &opts.password).await);

    // After that lock, the right password succeeds and resets the count.
    tokio::time::sleep(lock + Duration::from_millis(100)).await;
    let (status, body) = login_as(&c, &s, user, &opts.password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(s.failed_logins(user), 0);
    for _ in 1..=4 {
        let (status, _) = login_as(&c, &s, user, WRONG_PASSWORD).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    locked(login_as(&c, &s, user, WRONG_PASSWORD).await);
    s.stop().await;
}

#[tokio::test]
async fn login_counters_count_what_was_sent_whatever_the_answer() {
    let s = demo(&[]).await;
    let c = client();
    let opts = DemoOptions::default();
    let user = opts.username.as_str();
    let counts = |s: &DemoServer| {
        (
            s.login_attempts(user),
            s.wrong_password_attempts(user),
            s.failed_logins(user),
        )
    };
    assert_eq!(counts(&s), (0, 0, 0));

    token_for(&c, &s, user).await;
    let (status, _) = login_as(&c, &s, &opts.email.to_uppercase(), WRONG_PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(counts(&s), (2, 1, 1), "by e-mail, any case");
    // No password at all: an attempt, not a wrong password.
    let url = format!("{}/auth/login", s.api_url());
    let (status, _) = json_of(post_json(&c, url.clone(), None, json!({"login": user})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(counts(&s), (3, 1, 1));
    // Unknown logins and bodies that are not JSON count nowhere.
    login_as(&c, &s, "ghost_rider_x9", WRONG_PASSWORD).await;
    let resp = c
        .post(&url)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"login\":\"probe\",")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(counts(&s), (3, 1, 1));
    assert_eq!(s.login_attempts("ghost_rider_x9"), 0);

    // Four more wrong ones lock the account; while locked, wrong passwords
    // still count (the consecutive count stays at 5) and right ones do not.
    for _ in 0..4 {
        login_as(&c, &s, user, WRONG_PASSWORD).await;
    }
    assert_eq!(counts(&s), (7, 5, 5));
    let (status, _) = login_as(&c, &s, user, WRONG_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _) = login_as(&c, &s, user, &opts.password).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(counts(&s), (9, 6, 5));

    // Answers that never check the password count what was sent all the same.
    s.set_faults(faults_of(&["db-down"]));
    let (status, _) = login_as(&c, &s, user, WRONG_PASSWORD).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    s.set_faults(faults_of(&["error:POST:/api/auth/login=1:503"]));
    let (status, _) = login_as(&c, &s, user, &opts.password).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(counts(&s), (11, 7, 5));
    s.set_faults(Faults::default());

    // Per account, and in the state endpoint by username.
    assert_eq!(s.login_attempts(OTHER_USERNAME), 0);
    let (status, state) = json_of(
        c.get(format!("{}/__demo/state", s.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        state["accounts"][user],
        json!({"login_attempts": 11, "wrong_password_attempts": 7, "failed_logins": 5, "locked": true})
    );
    assert_eq!(
        state["accounts"][OTHER_USERNAME],
        json!({"login_attempts": 0, "wrong_password_attempts": 0, "failed_logins": 0, "locked": false})
    );
    s.stop().await;
}

#[tokio::test]
async fn lock_account_locks_like_five_wrong_passwords() {
    let s = demo_with(DemoOptions {
        lockout_duration: Duration::from_millis(300),
        ..DemoOptions::default()
    })
    .await;
    let c = client();
    let opts = DemoOptions::default();
    let user = opts.username.as_str();
    s.lock_account(user);
    s.lock_account("nobody_here");
    assert_eq!(s.failed_logins(user), 5);
    assert_eq!(
        (s.login_attempts(user), s.wrong_password_attempts(user)),
        (0, 0),
        "nothing was sent"
    );
    let (status, body) = login_as(&c, &s, user, &opts.password).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "ACCOUNT_LOCKED")
    );
    let (_, state) = json_of(
        c.get(format!("{}/__demo/state", s.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(state["accounts"][user]["locked"], true, "{state}");
    // Per account: the other rider is unaffected.
    token_for(&c, &s, OTHER_USERNAME).await;

    // As after five wrong passwords: once the lock is over, one wrong password
    // locks again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, _) = login_as(&c, &s, user, WRONG_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        (s.login_attempts(user), s.wrong_password_attempts(user)),
        (2, 1)
    );
    s.stop().await;
}

#[tokio::test]
async fn token_ttl_fault_expires_tokens_in_the_middle_of_a_flow() {
    let s = demo(&[]).await;
    let c = client();
    let before = token_for(&c, &s, "probe").await;

    // Switched on at run time, as a JSON document.
    let resp = c
        .put(format!("{}/__demo/faults", s.base_url()))
        .json(&json!({"token_ttl": "1s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(s.faults().token_ttl, Some(Duration::from_secs(1)));
    let opts = DemoOptions::default();
    let (status, body) = login_as(&c, &s, &opts.username, &opts.password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["expires_in"], 1);
    let token = body["data"]["access_token"].as_str().unwrap().to_owned();
    let issued = Instant::now();
    let id = new_trip(&c, &s, &token).await;

    // Past the lifetime (the expiry is the thing under test): 401 like any bad token.
    tokio::time::sleep(Duration::from_millis(1200).saturating_sub(issued.elapsed())).await;
    let resp = c
        .post(format!("{}/trips/{id}/publish", s.api_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(header(resp.headers(), "www-authenticate"), Some("Bearer"));
    let (status, body) = json_of(resp).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );
    let resp = c
        .delete(format!("{}/trips/{id}", s.api_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // An expired token is anonymous where authentication is optional.
    let (status, body) = user_trips(&c, &s, "probe", "?status=draft", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed_ids(&body), Vec::<String>::new());

    // A token issued before the fault keeps its 15 minutes.
    let (status, body) = user_trips(&c, &s, "probe", "?status=draft", Some(&before)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed_ids(&body), [id.as_str()]);
    let resp = c
        .delete(format!("{}/trips/{id}", s.api_url()))
        .bearer_auth(&before)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    s.set_faults(Faults::default());
    let (_, body) = login_as(&c, &s, &opts.username, &opts.password).await;
    assert_eq!(body["data"]["expires_in"], 900);
    s.stop().await;
}
