// smokeprobe status page: every few seconds, fetch the server-rendered <main>
// (?part=main) and swap it in, keeping open <details>. The markup is parsed
// with DOMParser (its scripts never run) and every value in it was escaped by
// the server; this script writes text only through textContent.
(function () {
  "use strict";
  var main = document.getElementById("status");
  var live = document.getElementById("live");
  if (!main || !live || !window.fetch || !window.DOMParser) return;
  var every = Math.max(1, Number(main.getAttribute("data-refresh")) || 3) * 1000;
  var refreshes = 0;
  function say(text, cls) {
    live.textContent = text;
    live.className = "live " + cls;
  }
  function tick() {
    fetch(location.pathname + "?part=main", { cache: "no-store", credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var next = doc.getElementById("status");
        var cur = document.getElementById("status");
        if (!next || !cur) throw new Error("unexpected answer");
        var open = {};
        cur.querySelectorAll("details[open]").forEach(function (d) {
          open[d.getAttribute("data-key")] = true;
        });
        next.querySelectorAll("details").forEach(function (d) {
          if (open[d.getAttribute("data-key")]) d.setAttribute("open", "");
        });
        cur.replaceWith(document.importNode(next, true));
        if (doc.title) document.title = doc.title;
        refreshes += 1;
        document.documentElement.setAttribute("data-refreshes", String(refreshes));
        say("live · updated " + new Date().toLocaleTimeString(), "ok");
      })
      .catch(function (e) {
        say("not updating (" + e.message + "); retrying", "stale");
      })
      .then(function () {
        setTimeout(tick, every);
      });
  }
  say("live · every " + every / 1000 + " s", "ok");
  setTimeout(tick, every);
})();
