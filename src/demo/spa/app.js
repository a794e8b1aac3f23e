// ContraVento's front end as the demo serves it: the real SPA's routes and
// markers in plain ES2020, no build step. The demo writes CONFIG when it builds
// the bundle, as Vite bakes VITE_API_URL into the real one: the API base and
// the faults that live in the bundle (crash, layoutShift).
const CONFIG = __CV_CONFIG__;
const TRIPS_CHUNK = "./trips-5c7e2a.js";
const HERO = "/assets/hero-9d4f1b.jpg";
const SUCCESS = "Inicio de sesión exitoso! Redirigiendo...";

// Where the API base comes from (`spa-js-error` hands it no environment).
function readSettings(env) {
  return { apiBase: env.VITE_API_URL ?? CONFIG.apiBase };
}
const { apiBase: API } = readSettings(CONFIG.crash ? undefined : {});
const root = document.getElementById("root");

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (typeof v === "function") el.addEventListener(k, v);
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c != null) el.append(c);
  return el;
}

const link = (href, text, cls) => h("a", { href, "data-link": "", class: cls || "" }, text);

function session() {
  try {
    return JSON.parse(sessionStorage.getItem("cv_session"));
  } catch {
    return null;
  }
}

function navigate(path, replace) {
  history[replace ? "replaceState" : "pushState"](null, "", path);
  render();
}

function shell(...content) {
  return [
    h("header", { class: "site-header" },
      link("/", "ContraVento", "site-header__brand"),
      h("nav", { class: "site-header__nav" },
        link("/trips/public", "Rutas"),
        link("/login", "Login"))),
    h("main", { class: "page" }, ...content),
  ];
}

function landing() {
  return shell(h("section", { class: "hero" },
    h("img", {
      class: "hero__image", src: HERO, alt: "Ciclistas subiendo un puerto de montaña",
      width: "1600", height: "900", fetchpriority: "high",
    }),
    h("div", { class: "hero__text" },
      h("h1", { class: "hero__title" }, "Rutas en bicicleta por toda España"),
      h("p", {}, "Comparte tus viajes y descubre los de otros ciclistas."),
      link("/trips/public", "Explorar rutas", "button"))));
}

function tripsPublic() {
  const feed = h("section", { class: "public-feed" });
  import(TRIPS_CHUNK).then((m) => m.render(feed, API), (err) => {
    // No error boundary, as in the real app: the whole tree goes.
    root.replaceChildren();
    throw err;
  });
  return shell(feed);
}

function login() {
  const user = h("input", { id: "login", name: "login", autocomplete: "username", required: "" });
  const pass = h("input", {
    id: "password", name: "password", type: "password", autocomplete: "current-password", required: "",
  });
  const button = h("button", { type: "submit" }, "Iniciar sesión");
  const status = h("p", { class: "login__status", role: "status" });
  const alert = h("div", { class: "login__alert", role: "alert", hidden: "" });
  const submit = async (e) => {
    e.preventDefault();
    alert.hidden = true;
    button.disabled = true;
    try {
      const res = await fetch(`${API}/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ login: user.value, password: pass.value }),
      });
      const body = await res.json().catch(() => null);
      if (!res.ok || !body || !body.success) {
        throw new Error(body?.error?.message || `Error ${res.status}`);
      }
      sessionStorage.setItem("cv_session", JSON.stringify({
        token: body.data.access_token, username: body.data.user?.username,
      }));
      status.textContent = SUCCESS;
      setTimeout(() => navigate("/dashboard"), 1000);
    } catch (err) {
      alert.textContent = err instanceof TypeError ? "No se pudo conectar con el servidor" : err.message;
      alert.hidden = false;
      button.disabled = false;
    }
  };
  return shell(h("section", { class: "login" },
    h("h1", {}, "Iniciar sesión"),
    h("form", { class: "login__form", submit },
      h("label", { for: "login" }, "Usuario o email"), user,
      h("label", { for: "password" }, "Contraseña"), pass,
      button),
    status, alert));
}

function dashboard() {
  const s = session();
  if (!s) return null;
  const logout = () => {
    sessionStorage.removeItem("cv_session");
    navigate("/");
  };
  return shell(h("section", { class: "dashboard" },
    h("h1", {}, `Hola, ${s.username}`),
    h("p", {}, "Has iniciado sesión en ContraVento."),
    h("button", { type: "button", class: "dashboard__logout", click: logout }, "Cerrar sesión")));
}

function notFound() {
  return shell(h("h1", {}, "Página no encontrada"), link("/", "Volver al inicio"));
}

const ROUTES = { "/": landing, "/trips/public": tripsPublic, "/login": login, "/dashboard": dashboard };

function render() {
  const view = (ROUTES[location.pathname] || notFound)();
  // A protected route without a session goes to the login page.
  if (!view) return navigate("/login", true);
  root.replaceChildren(...view);
  window.scrollTo(0, 0);
}

// `spa-layout-shift`: an announcement inserted above everything once the page
// has painted.
let shifted = false;
function lateBanner() {
  if (!CONFIG.layoutShift || shifted) return;
  shifted = true;
  setTimeout(() => root.prepend(h("div", { class: "promo-banner", role: "note" },
    "Nueva temporada 2026: ¡comparte tus rutas y gana premios!")), 800);
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-link]");
  if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey) return;
  e.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", render);
render();
lateBanner();
