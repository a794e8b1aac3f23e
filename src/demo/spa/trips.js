// The `/trips/public` route, a chunk of its own (Vite's lazy route): the public
// trips from the API, one `article.public-trip-card` each.
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function card(trip) {
  const article = el("article", "public-trip-card");
  article.dataset.tripId = trip.trip_id ?? "";
  article.append(el("h2", "public-trip-card__title", trip.title ?? ""));
  const meta = [
    trip.location?.name,
    trip.distance_km != null ? `${trip.distance_km} km` : null,
    trip.author?.username ? `por ${trip.author.username}` : null,
  ].filter(Boolean);
  article.append(el("p", "public-trip-card__meta", meta.join(" · ")));
  return article;
}

export async function render(feed, api) {
  const loading = el("p", "public-feed__loading", "Cargando viajes…");
  feed.replaceChildren(el("h1", "public-feed__title", "Explora Viajes en Bicicleta"), loading);
  let body;
  try {
    const res = await fetch(`${api}/trips/public?limit=20`);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.json();
  } catch (err) {
    console.error("Error al cargar viajes:", err.message);
    loading.replaceWith(el("div", "public-feed__error", "Error al cargar viajes"));
    return;
  }
  const trips = Array.isArray(body?.trips) ? body.trips : [];
  if (trips.length === 0) {
    loading.replaceWith(el("p", "public-feed__empty", "Todavía no hay viajes publicados"));
    return;
  }
  const list = el("div", "public-feed__list");
  list.append(...trips.map(card));
  loading.replaceWith(list);
}
