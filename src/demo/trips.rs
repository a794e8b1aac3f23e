//! Demo backend handlers for trips: create, read, publish, delete, photo upload,
//! the public feed, a user's own trip list (drafts included for its owner), and
//! the `/storage` files the photo URLs point at.

use std::sync::OnceLock;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart};
use axum::http::{Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::DemoState;
use super::ctx::Ctx;
use super::envelope::{ApiError, Fields, detail, success};
use super::store::{
    Location, MAX_PHOTOS_PER_TRIP, MAX_TAG_NAMES, MAX_TRIPS, Photo, Store, Trip, UserIdx,
    naive_timestamp, normalize_tag,
};
use crate::builtins::{parse_date, today_utc, unix_now, uuid_v4};
use crate::imagegen::{self, ImageFormat};

const DIFFICULTIES: [&str; 5] = ["easy", "moderate", "difficult", "very_difficult", "extreme"];
/// Publishing needs a description at least this long (in characters).
const MIN_PUBLISH_DESCRIPTION: usize = 50;
const MAX_DESCRIPTION: usize = 20_000;
const MAX_LOCATIONS: usize = 20;
const MAX_TAGS: usize = 10;
/// The backend's own photo limit; behind nginx's 10 MB body cap it is never hit.
const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;
const PHOTO_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];

/// Reads a trip from a `POST /trips` body, with the backend's validation rules.
fn trip_from_request(fields: &Fields, owner: UserIdx, now: f64) -> Result<Trip, ApiError> {
    let title = fields.required_str("title")?.trim();
    if title.is_empty() {
        return Err(ApiError::validation("title", "El título es obligatorio"));
    }
    if title.chars().count() > 200 {
        return Err(ApiError::validation(
            "title",
            "El título no puede superar los 200 caracteres",
        ));
    }
    let description = fields.optional_str("description")?;
    if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(ApiError::validation(
            "description",
            format!("La descripción no puede superar los {MAX_DESCRIPTION} caracteres"),
        ));
    }
    let start_date = fields.required_str("start_date")?;
    let start = date_field("start_date", start_date)?;
    if parse_date(&today_utc()).is_some_and(|today| start > today) {
        return Err(ApiError::validation(
            "start_date",
            "La fecha de inicio no puede ser futura",
        ));
    }
    let end_date = fields.optional_str("end_date")?;
    if let Some(end_date) = end_date {
        if date_field("end_date", end_date)? < start {
            return Err(ApiError::validation(
                "end_date",
                "La fecha de fin debe ser igual o posterior a la fecha de inicio",
            ));
        }
    }
    let distance_km = fields.optional_number("distance_km")?;
    if distance_km.is_some_and(|d| !(0.1..=10_000.0).contains(&d)) {
        return Err(ApiError::validation(
            "distance_km",
            "La distancia debe estar entre 0.1 y 10000 km",
        ));
    }
    let difficulty = fields.optional_str("difficulty")?;
    if difficulty.is_some_and(|d| !DIFFICULTIES.contains(&d)) {
        return Err(ApiError::validation(
            "difficulty",
            "La dificultad debe ser easy, moderate, difficult, very_difficult o extreme",
        ));
    }
    Ok(Trip {
        trip_id: uuid_v4(),
        owner,
        title: title.to_owned(),
        description: description.map(str::to_owned),
        start_date: start_date.to_owned(),
        end_date: end_date.map(str::to_owned),
        distance_km,
        difficulty: difficulty.map(str::to_owned),
        locations: locations_from_request(fields)?,
        tags: tags_from_request(fields)?,
        created_at: naive_timestamp(now),
        updated_at: naive_timestamp(now),
        created_unix: now,
        published: None,
        photos: Vec::new(),
        seq: 0,
    })
}

fn date_field(field: &str, value: &str) -> Result<(i64, u32, u32), ApiError> {
    parse_date(value)
        .ok_or_else(|| ApiError::validation(field, "Formato de fecha inválido. Usa YYYY-MM-DD"))
}

fn locations_from_request(fields: &Fields) -> Result<Vec<Location>, ApiError> {
    let items = fields.optional_array("locations")?;
    if items.len() > MAX_LOCATIONS {
        return Err(ApiError::validation(
            "locations",
            format!("Un viaje admite como máximo {MAX_LOCATIONS} ubicaciones"),
        ));
    }
    let text = |obj: &Map<String, Value>, key: &str, max: usize| -> Result<Option<String>, ()> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if (1..=max).contains(&s.trim().chars().count()) => {
                Ok(Some(s.trim().to_owned()))
            }
            Some(_) => Err(()),
        }
    };
    items
        .iter()
        .map(|item| {
            let obj = item.as_object().ok_or(())?;
            Ok(Location {
                location_id: uuid_v4(),
                name: text(obj, "name", 200)?.ok_or(())?,
                country: text(obj, "country", 100)?,
            })
        })
        .collect::<Result<Vec<_>, ()>>()
        .map_err(|()| {
            ApiError::validation(
                "locations",
                "Cada ubicación necesita un nombre (máximo 200 caracteres) y un país opcional",
            )
        })
}

fn tags_from_request(fields: &Fields) -> Result<Vec<String>, ApiError> {
    let items = fields.optional_array("tags")?;
    if items.len() > MAX_TAGS {
        return Err(ApiError::validation(
            "tags",
            format!("Un viaje admite como máximo {MAX_TAGS} etiquetas"),
        ));
    }
    let mut tags: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let tag = item
            .as_str()
            .map(str::trim)
            .filter(|t| (1..=50).contains(&t.chars().count()))
            .ok_or_else(|| {
                ApiError::validation("tags", "Las etiquetas deben tener entre 1 y 50 caracteres")
            })?;
        if !tags.iter().any(|t| normalize_tag(t) == normalize_tag(tag)) {
            tags.push(tag.to_owned());
        }
    }
    Ok(tags)
}

fn photo_json(trip_id: &str, order: usize, photo: &Photo) -> Value {
    json!({
        "id": photo.id,
        "trip_id": trip_id,
        "photo_url": photo.photo_url,
        "thumb_url": photo.thumb_url,
        "order": order,
        "file_size": photo.file_size,
        "width": photo.width,
        "height": photo.height,
        "uploaded_at": photo.uploaded_at,
    })
}

fn trip_json(store: &Store, trip: &Trip) -> Value {
    let photos: Vec<Value> = trip
        .photos
        .iter()
        .enumerate()
        .map(|(order, p)| photo_json(&trip.trip_id, order, p))
        .collect();
    let locations: Vec<Value> = trip
        .locations
        .iter()
        .enumerate()
        .map(|(sequence, l)| {
            json!({"location_id": l.location_id, "name": l.name, "country": l.country, "sequence": sequence})
        })
        .collect();
    let tags: Vec<Value> = trip.tags.iter().map(|name| tag_json(store, name)).collect();
    trip_fields(
        store,
        trip,
        json!({
            "difficulty": trip.difficulty,
            "published_at": trip.published.as_ref().map(|(at, _)| at),
            "photos": photos,
            "locations": locations,
            "tags": tags,
            "like_count": 0,
            "gpx_file": null,
        }),
    )
}

/// The fields a trip's detail and its list item share, with `own` (the
/// object's other fields) added. serde_json's maps are sorted (no
/// `preserve_order`), so the keys come out in the same order either way.
fn trip_fields(store: &Store, trip: &Trip, own: Value) -> Value {
    let mut fields = json!({
        "trip_id": trip.trip_id,
        "user_id": store.users.get(trip.owner).map(|u| &u.user_id),
        "title": trip.title,
        "description": trip.description,
        "start_date": trip.start_date,
        "end_date": trip.end_date,
        "distance_km": trip.distance_km,
        "status": trip.status(),
        "is_private": false,
        "created_at": trip.created_at,
        "updated_at": trip.updated_at,
    });
    if let (Value::Object(shared), Value::Object(own)) = (&mut fields, own) {
        shared.extend(own);
    }
    fields
}

/// One tag as the backend shows it: `name`, `normalized`, `usage_count`.
fn tag_json(store: &Store, name: &str) -> Value {
    let normalized = normalize_tag(name);
    let shown = store
        .tags
        .get(&normalized)
        .map_or(name, |t| t.name.as_str());
    json!({"name": shown, "normalized": normalized, "usage_count": store.tag_usage(name)})
}

/// `GET /tags` (public): every tag in the tag table, most used first, in the
/// envelope: `data: {"tags": [{name, normalized, usage_count, created_at}],
/// "count"}`. A count includes the trips since deleted (see [`Tag`](super::store::Tag)).
pub(super) fn list_tags(ctx: &Ctx) -> Result<Response, ApiError> {
    ctx.db()?;
    let store = ctx.state.store();
    let mut tags: Vec<(&String, &super::store::Tag)> = store.tags.iter().collect();
    tags.sort_by(|(a_key, a), (b_key, b)| b.usage_count.cmp(&a.usage_count).then(a_key.cmp(b_key)));
    let items: Vec<Value> = tags
        .iter()
        .map(|(normalized, t)| {
            json!({
                "name": t.name,
                "normalized": normalized,
                "usage_count": t.usage_count,
                "created_at": t.created_at,
            })
        })
        .collect();
    let data = json!({"count": items.len(), "tags": items});
    Ok(success(StatusCode::OK, data))
}

/// The trip `id`, provided `user` owns it: 404 when missing, 403 (`forbidden`) otherwise.
fn owned_trip<'s>(
    store: &'s mut Store,
    id: &str,
    user: UserIdx,
    forbidden: &str,
) -> Result<&'s mut Trip, ApiError> {
    let trip = store
        .trips
        .get_mut(id)
        .ok_or_else(ApiError::trip_not_found)?;
    if trip.owner == user {
        Ok(trip)
    } else {
        Err(ApiError::forbidden(forbidden))
    }
}

/// `POST /trips`: 201 with a draft.
pub(super) fn create_trip(ctx: &Ctx, req: &Request<Bytes>) -> Result<Response, ApiError> {
    let owner = ctx.user()?;
    let trip = trip_from_request(&ctx.json(req)?, owner, unix_now())?;
    let id = trip.trip_id.clone();
    let mut store = ctx.state.store();
    if store.trips.len() >= MAX_TRIPS
        || store.tags.len() + store.new_tags(&trip.tags) > MAX_TAG_NAMES
    {
        return Err(ctx.internal());
    }
    store.insert_trip(trip);
    let data = store.trips.get(&id).map(|t| trip_json(&store, t));
    Ok(success(StatusCode::CREATED, data.unwrap_or(Value::Null)))
}

/// `GET /trips/{id}`: drafts only for their owner; optional authentication.
pub(super) fn get_trip(ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    ctx.db()?;
    let viewer = ctx.viewer();
    let store = ctx.state.store();
    let trip = store.trips.get(id).ok_or_else(ApiError::trip_not_found)?;
    if trip.published.is_none() && viewer != Some(trip.owner) {
        return Err(ApiError::forbidden(
            "No tienes permiso para ver este viaje en borrador",
        ));
    }
    Ok(success(StatusCode::OK, trip_json(&store, trip)))
}

/// `POST /trips/{id}/publish` (no body): idempotent.
pub(super) fn publish_trip(ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let user = ctx.user()?;
    let mut store = ctx.state.store();
    let trip = owned_trip(
        &mut store,
        id,
        user,
        "No tienes permiso para publicar este viaje",
    )?;
    let description_len = trip
        .description
        .as_deref()
        .map_or(0, |d| d.trim().chars().count());
    if trip.published.is_none() && description_len < MIN_PUBLISH_DESCRIPTION {
        return Err(ApiError::validation(
            "description",
            "La descripción debe tener al menos 50 caracteres para publicar el viaje",
        ));
    }
    if ctx.faults.publish_fails {
        return Err(ctx.internal());
    }
    if trip.published.is_none() {
        let now = unix_now();
        trip.published = Some((format!("{}Z", naive_timestamp(now)), now));
        trip.updated_at = naive_timestamp(now);
    }
    let published_at = trip.published.as_ref().map(|(at, _)| at);
    let data = json!({"trip_id": id, "status": "published", "published_at": published_at});
    Ok(success(StatusCode::OK, data))
}

/// `DELETE /trips/{id}`: owner only; its photos go with it.
pub(super) fn delete_trip(ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let user = ctx.user()?;
    let mut store = ctx.state.store();
    owned_trip(
        &mut store,
        id,
        user,
        "No tienes permiso para eliminar este viaje",
    )?;
    store.remove_trip(id);
    Ok(success(
        StatusCode::OK,
        json!({"message": "Viaje eliminado correctamente"}),
    ))
}

/// `POST /trips/{id}/photos`: multipart field `photo`, a real JPEG/PNG/WebP, at
/// most six per trip. Only metadata is kept; the stored URL is built from ids,
/// never from the client's file name. With `upload_trusts_type` the declared
/// part type is the only check (nothing is decoded) and `photo_url` ends with
/// the client's file name, unsanitised.
pub(super) async fn upload_photo(
    ctx: &Ctx,
    req: Request<Bytes>,
    trip_id: &str,
) -> Result<Response, ApiError> {
    let user = ctx.user()?;
    owned_trip(
        &mut ctx.state.store(),
        trip_id,
        user,
        "No tienes permiso para subir fotos a este viaje",
    )?;
    let (content_type, file_name, bytes) = photo_part(req).await?;
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !PHOTO_TYPES.iter().any(|t| t.eq_ignore_ascii_case(essence)) {
        return Err(ApiError::validation(
            "photo",
            "Formato de archivo no soportado. Usa JPG, PNG o WebP",
        ));
    }
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(ApiError::validation(
            "photo",
            "La foto excede el tamaño máximo de 10MB",
        ));
    }
    let dimensions = if ctx.faults.reject_photos {
        None
    } else if ctx.faults.upload_trusts_type {
        // The declared type is all it checks: nothing is decoded.
        Some(image_dimensions(&bytes).unwrap_or((0, 0)))
    } else {
        image_dimensions(&bytes)
    };
    let (width, height) = dimensions
        .ok_or_else(|| ApiError::validation("photo", "El archivo no es una imagen válida"))?;
    let mut store = ctx.state.store();
    // Looked up again: the trip may have been deleted while the upload was read.
    let order = store
        .trips
        .get(trip_id)
        .ok_or_else(ApiError::trip_not_found)?
        .photos
        .len();
    if order >= MAX_PHOTOS_PER_TRIP {
        return Err(ApiError::validation(
            "photo",
            "Has alcanzado el límite de 6 fotos por viaje",
        ));
    }
    let mut photo = Photo::new(trip_id, bytes.len(), width, height, unix_now());
    if ctx.faults.storage_readonly {
        // The real backend writes the optimized JPEG first and lets the
        // OSError through as a 403 whose message names the file.
        let file = photo
            .photo_url
            .strip_prefix('/')
            .unwrap_or(&photo.photo_url)
            .to_owned();
        return Err(ApiError::forbidden(&format!(
            "[Errno 13] Permission denied: '{file}'"
        )));
    }
    if ctx.faults.upload_trusts_type {
        if let Some(name) = file_name.filter(|n| !n.is_empty()) {
            // The client's file name, unsanitised, `../` and all.
            photo.photo_url = format!(
                "/storage/trip_photos/{}/{trip_id}/{name}",
                super::store::photo_month()
            );
        }
    }
    let data = photo_json(trip_id, order, &photo);
    store.add_photo(trip_id, photo);
    Ok(success(StatusCode::CREATED, data))
}

/// The `photo` part of a multipart body: (its Content-Type, its file name, its bytes).
async fn photo_part(req: Request<Bytes>) -> Result<(String, Option<String>, Bytes), ApiError> {
    // Not multipart at all: FastAPI sees no form fields.
    let Ok(mut form) = Multipart::from_request(req.map(Body::from), &()).await else {
        return Err(ApiError::missing_field("photo"));
    };
    let malformed = |_| ApiError::invalid_field("photo", "There was an error parsing the body");
    while let Some(field) = form.next_field().await.map_err(malformed)? {
        if field.name() == Some("photo") {
            let content_type = field.content_type().unwrap_or_default().to_owned();
            let file_name = field.file_name().map(str::to_owned);
            let bytes = field.bytes().await.map_err(malformed)?;
            return Ok((content_type, file_name, bytes));
        }
    }
    Err(ApiError::missing_field("photo"))
}

/// Width and height of a real image; `None` for anything else.
fn image_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    webp_dimensions(bytes).or_else(|| {
        imagegen::sniff(bytes)
            .ok()
            .map(|info| (info.width, info.height))
    })
}

/// Reads a WebP's size from its first chunk (lossy `VP8 `, lossless `VP8L`, extended `VP8X`).
fn webp_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    if b.get(0..4)? != b"RIFF" || b.get(8..12)? != b"WEBP" {
        return None;
    }
    let le = |at: usize, len: usize| -> Option<u32> {
        let bytes = b.get(at..at + len)?;
        Some(
            bytes
                .iter()
                .rev()
                .fold(0u32, |acc, &byte| (acc << 8) | u32::from(byte)),
        )
    };
    let (width, height) = match b.get(12..16)? {
        b"VP8X" => (le(24, 3)? + 1, le(27, 3)? + 1),
        b"VP8L" if *b.get(20)? == 0x2f => {
            let bits = le(21, 4)?;
            ((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1)
        }
        b"VP8 " if b.get(23..26)? == [0x9d, 0x01, 0x2a] => {
            (le(26, 2)? & 0x3fff, le(28, 2)? & 0x3fff)
        }
        _ => return None,
    };
    (width > 0 && height > 0).then_some((width, height))
}

/// A query parameter's raw value (the last occurrence wins); `None` when absent.
fn query_value<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query
        .unwrap_or_default()
        .split('&')
        .rev()
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// An integer query parameter (the last occurrence wins); `None` when absent.
fn query_int(query: Option<&str>, name: &str) -> Result<Option<i64>, ApiError> {
    query_value(query, name)
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                ApiError::invalid_field(
                    name,
                    "Input should be a valid integer, unable to parse string as an integer",
                )
            })
        })
        .transpose()
}

/// A query integer FastAPI declares as `Query(default, ge=GE, le=LE)`: its
/// value, or pydantic's words for the bound it breaks.
fn query_in(
    query: Option<&str>,
    name: &str,
    default: i64,
    ge: i64,
    le: Option<i64>,
) -> Result<i64, ApiError> {
    let v = query_int(query, name)?.unwrap_or(default);
    if v < ge {
        return Err(ApiError::invalid_field(
            name,
            &format!("Input should be greater than or equal to {ge}"),
        ));
    }
    match le {
        Some(le) if v > le => Err(ApiError::invalid_field(
            name,
            &format!("Input should be less than or equal to {le}"),
        )),
        _ => Ok(v),
    }
}

fn feed_item(store: &Store, trip: &Trip) -> Value {
    let author = store.users.get(trip.owner);
    json!({
        "trip_id": trip.trip_id,
        "title": trip.title,
        "start_date": trip.start_date,
        "distance_km": trip.distance_km,
        "photo": trip.photos.first().map(|p| json!({"photo_url": p.photo_url, "thumbnail_url": p.thumb_url})),
        "location": trip.locations.first().map(|l| json!({"name": l.name})),
        "author": {
            "user_id": author.map(|u| &u.user_id),
            "username": author.map(|u| &u.username),
            "profile_photo_url": null,
            "is_following": null,
        },
        "published_at": trip.published.as_ref().map(|(at, _)| at),
        "like_count": 0,
        "is_liked": null,
    })
}

/// `GET /trips/public` (and `GET /feed`): bare `{"trips", "pagination"}`, newest
/// published first.
pub(super) fn public_feed(ctx: &Ctx, query: Option<&str>) -> Result<Response, ApiError> {
    let page = query_int(query, "page")?.unwrap_or(1);
    let limit = query_int(query, "limit")?.unwrap_or(20);
    if page < 1 {
        return Err(ApiError::invalid_field(
            "page",
            "Input should be greater than or equal to 1",
        ));
    }
    if !(1..=50).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            "Input should be between 1 and 50",
        ));
    }
    if ctx.faults.db_down {
        return Err(ctx.server_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "PUBLIC_FEED_ERROR",
            "Error al obtener los viajes públicos",
        ));
    }
    // The "replica" of `feed_hides_new` stopped at server start.
    let visible_until = if ctx.faults.feed_hides_new {
        ctx.state.started_at()
    } else {
        f64::INFINITY
    };
    let store = ctx.state.store();
    let mut published: Vec<(&Trip, f64)> = store
        .trips
        .values()
        .filter_map(|t| t.published.as_ref().map(|(_, at)| (t, *at)))
        .filter(|(_, at)| *at < visible_until)
        .collect();
    published.sort_by(|(a, a_at), (b, b_at)| b_at.total_cmp(a_at).then(b.seq.cmp(&a.seq)));
    let page = usize::try_from(page).unwrap_or(usize::MAX);
    let limit = usize::try_from(limit).unwrap_or(20);
    let trips: Vec<Value> = published
        .iter()
        .skip((page - 1).saturating_mul(limit))
        .take(limit)
        .map(|(t, _)| feed_item(&store, t))
        .collect();
    let total = published.len();
    Ok(Json(json!({
        "trips": trips,
        "pagination": {"total": total, "page": page, "limit": limit, "total_pages": total.div_ceil(limit)},
    }))
    .into_response())
}

/// One trip of `GET /users/{username}/trips` (the real backend's list item).
fn user_trip_item(store: &Store, trip: &Trip) -> Value {
    trip_fields(
        store,
        trip,
        json!({
            "photo_count": trip.photos.len(),
            "tag_names": trip.tags,
            "thumbnail_url": trip.photos.first().map(|p| &p.thumb_url),
        }),
    )
}

/// `GET /users/{username}/trips?status=draft|published&limit=1..100&offset=0..`:
/// the user's trips, newest (created) first, in the envelope. Its owner (by
/// Bearer token) sees drafts too; anyone else, anonymous or with a token that
/// is invalid or expired (the authentication is optional, so that is no 401),
/// only the published ones. The query is checked first (400), then the
/// database (500 with `db-down`), then the user (404 `USER_NOT_FOUND`, the
/// username matched exactly as the database does).
pub(super) fn user_trips(
    ctx: &Ctx,
    username: &str,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let status = match query_value(query, "status") {
        None => None,
        Some(s @ ("draft" | "published")) => Some(s),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "status",
                "Input should be 'draft' or 'published'",
            ));
        }
    };
    let limit = query_in(query, "limit", 50, 1, Some(100))?;
    let offset = query_in(query, "offset", 0, 0, None)?;
    ctx.db()?;
    let viewer = ctx.viewer();
    let store = ctx.state.store();
    let owner = store.user_named(username).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
            format!("Usuario '{username}' no encontrado"),
        )
    })?;
    let sees_drafts = viewer == Some(owner);
    let mut trips: Vec<&Trip> = store
        .trips
        .values()
        .filter(|t| t.owner == owner)
        .filter(|t| sees_drafts || t.published.is_some())
        .filter(|t| status.is_none_or(|s| t.status() == s))
        .collect();
    trips.sort_by(|a, b| {
        b.created_unix
            .total_cmp(&a.created_unix)
            .then(b.seq.cmp(&a.seq))
    });
    let items: Vec<Value> = trips
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(50))
        .map(|t| user_trip_item(&store, t))
        .collect();
    let data = json!({"trips": items, "count": items.len(), "limit": limit, "offset": offset});
    Ok(success(StatusCode::OK, data))
}

/// The bytes served for every stored photo: one small real JPEG, so uploads never
/// have to be kept in memory.
fn stored_jpeg() -> Bytes {
    static JPEG: OnceLock<Bytes> = OnceLock::new();
    JPEG.get_or_init(|| {
        let size = imagegen::min_size(ImageFormat::Jpeg).max(2048);
        Bytes::from(imagegen::generate(ImageFormat::Jpeg, size, 0x5eed))
    })
    .clone()
}

/// `GET /storage/…`: the backend's static-files mount for uploaded photos.
pub(super) fn storage(state: &DemoState, method: &Method, path: &str) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    }
    if !state.store().has_photo_url(path) {
        return detail(StatusCode::NOT_FOUND, "Not Found");
    }
    ([(header::CONTENT_TYPE, "image/jpeg")], stored_jpeg()).into_response()
}
