/* brapped dashboard: behaviour that needs no chart library. No innerHTML with data: text only. */
"use strict";

// Covers come from Spotify's CDN; offline (or gone) they become the same tidy placeholder the
// server renders for items without an image. Capturing on document sees every <img> error.
document.addEventListener("error", function (event) {
  var img = event.target;
  if (!(img instanceof HTMLImageElement) || !img.classList.contains("pic")) return;
  var span = document.createElement("span");
  span.className = img.className + " pic-empty";
  span.setAttribute("aria-hidden", "true");
  span.setAttribute("data-initial", brapped.initial(img.getAttribute("data-name")));
  img.replaceWith(span);
}, true);

window.brapped = window.brapped || {};

brapped.pageData = function () {
  var node = document.getElementById("page-data");
  try { return node ? JSON.parse(node.textContent || "{}") : {}; } catch (e) { return {}; }
};

/* Names in any script (brapped.web.bidi): each one isolated, so a right-to-left name cannot reorder
   the text around it. `balanced` pairs a name's own directional controls (a stray U+2069 would end
   the isolate early); `isolate` wraps it in FSI ... PDI for text that is not HTML (SVG, canvas). */
var EMBEDDINGS = "\u202a\u202b\u202d\u202e", ISOLATES = "\u2066\u2067\u2068", PDF = "\u202c", PDI = "\u2069";
brapped.balanced = function (text) {
  var out = "", opened = [];
  Array.from(String(text == null ? "" : text)).forEach(function (ch) {
    if (EMBEDDINGS.indexOf(ch) >= 0) opened.push(PDF);
    else if (ISOLATES.indexOf(ch) >= 0) opened.push(PDI);
    else if (ch === PDF) { if (opened[opened.length - 1] !== PDF) return; opened.pop(); }
    else if (ch === PDI) { if (opened.indexOf(PDI) < 0) return; while (opened.pop() !== PDI) { /* closed with it */ } }
    out += ch;
  });
  return out + opened.reverse().join("");
};
brapped.isolate = function (text) { return "\u2068" + brapped.balanced(text) + PDI; };
/* A placeholder picture's letter: the first character a reader sees, whole (an emoji, a flag, a
   letter with its accents), after what is unseen (direction marks, overrides); as bidi.initial. */
brapped.initial = function (name) {
  var text = String(name == null ? "" : name).replace(/^[\p{Cc}\p{Cf}\p{Z}]+/u, "");
  if (!text) return "?";
  var first = window.Intl && Intl.Segmenter
    ? new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(text)[Symbol.iterator]().next().value.segment
    : Array.from(text)[0];
  return first.toUpperCase();
};

function el(tag, attrs, text) {
  var node = document.createElement(tag);
  Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function debounce(fn, ms) {
  var timer = null;
  return function () {
    var args = arguments;
    clearTimeout(timer);
    timer = setTimeout(function () { fn.apply(null, args); }, ms);
  };
}

function initDayJump() {
  document.querySelectorAll("form[data-day-jump] input[type=date]").forEach(function (input) {
    input.addEventListener("change", function () {
      if (input.value) window.location.href = "/day/" + encodeURIComponent(input.value);
    });
  });
}

function initSearch() {
  var input = document.querySelector("[data-search-input]");
  var target = document.querySelector("[data-search-results]");
  if (!input || !target) return;
  var latest = 0;
  var run = debounce(function () {
    var q = input.value.trim();
    var ticket = ++latest;
    var url = new URL(window.location.href);
    if (q) url.searchParams.set("q", q); else url.searchParams.delete("q");
    window.history.replaceState(null, "", url.toString());
    if (!q) { target.replaceChildren(); target.setAttribute("data-state", "empty"); return; }
    target.setAttribute("data-state", "loading");
    fetch("/api/search?q=" + encodeURIComponent(q), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) { if (ticket === latest) renderResults(target, data, q); })
      .catch(function () { if (ticket === latest) { target.replaceChildren(el("p", { class: "empty" }, "Search failed.")); } });
  }, 150);
  input.addEventListener("input", run);
}

var SEARCH_GROUPS = [["artists", "Artists", "/artist/"], ["tracks", "Tracks", "/track/"], ["albums", "Albums", "/album/"]];

function renderResults(target, data, q) {
  var parts = [];
  var total = 0;
  SEARCH_GROUPS.forEach(function (g) {
    var rows = (data && data[g[0]]) || [];
    if (!rows.length) return;
    total += rows.length;
    var section = el("section", { class: "card search-group", "data-group": g[0] });
    section.appendChild(el("h2", {}, g[1]));
    var list = el("ol", { class: "ranked" });
    rows.forEach(function (row, i) {
      var li = el("li");
      li.appendChild(el("span", { class: "rank" }, i + 1));
      li.appendChild(el("span", { class: "pic pic-sm pic-" + (g[0] === "artists" ? "artist" : "album") + " pic-empty", "data-initial": brapped.initial(row.name) }));
      var what = el("span", { class: "what" });
      var link = el("a", { class: "name", href: g[2] + encodeURIComponent(row.id) });
      link.appendChild(el("bdi", {}, brapped.balanced(row.name)));
      what.appendChild(link);
      if ((row.artists || []).length) {
        var credits = el("span", { class: "sub" });
        row.artists.forEach(function (a, k) {
          if (k) credits.appendChild(document.createTextNode(", "));
          credits.appendChild(el("bdi", {}, brapped.balanced(a.name)));
        });
        what.appendChild(credits);
      }
      li.appendChild(what);
      li.appendChild(el("span", { class: "how" }, (row.plays != null ? row.plays.toLocaleString() + " plays" : "")));
      list.appendChild(li);
    });
    section.appendChild(list);
    parts.push(section);
  });
  if (!total) {
    var none = el("p", { class: "empty" }, "Nothing in your history matches “");
    none.append(el("bdi", {}, brapped.balanced(q)), "”.");
    parts.push(none);
  }
  target.replaceChildren.apply(target, parts);
  target.setAttribute("data-state", total ? "results" : "none");
}

function initCountdown() {
  var node = document.querySelector(".countdown[data-expires]");
  if (!node) return;
  var expires, skew = 0;
  try {
    expires = new Date(JSON.parse(node.getAttribute("data-expires")));
    // Count from the server's "now" (an emulated clock in the demo), advancing with real time.
    if (node.getAttribute("data-now")) skew = new Date(JSON.parse(node.getAttribute("data-now"))) - Date.now();
  } catch (e) { return; }
  function tick() {
    var ms = expires - (Date.now() + skew);
    if (ms <= 0) { node.textContent = "The Spotify token has expired: run brapped auth."; return; }
    var d = Math.floor(ms / 864e5), h = Math.floor(ms / 36e5) % 24, m = Math.floor(ms / 6e4) % 60;
    node.textContent = "Token expires in " + d + " d " + h + " h " + m + " min.";
  }
  tick();
  setInterval(tick, 30000);
}

// The service worker (/sw.js, brapped.web.pwa) needs a secure context: https, or this machine.
function initServiceWorker() {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
}

// A page the service worker served from its cache carries data-offline-at: say so, and how old it is.
function initOfflineNote() {
  var saved = document.documentElement.getAttribute("data-offline-at");
  var main = document.querySelector("main");
  if (!saved || !main) return;
  var when = new Date(saved);
  var text = isNaN(when) ? "an earlier visit" : when.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  var note = el("div", { class: "offline-note", role: "status", "data-offline-note": "" });
  note.appendChild(el("strong", {}, "Offline"));
  note.appendChild(document.createTextNode(", showing this page as of " + text + "."));
  main.prepend(note);
  window.addEventListener("online", function () {
    note.replaceChildren(el("strong", {}, "Back online"), document.createTextNode(": this page is as of " + text + ", reload for today's."));
  });
}

document.addEventListener("DOMContentLoaded", function () {
  initServiceWorker();
  initOfflineNote();
  initDayJump();
  initSearch();
  initCountdown();
  if (brapped.initWrapped) brapped.initWrapped();
});

/* Wrapped cards as PNG: each card is drawn on a canvas from its data (no HTML rendering, no
   external images, so the canvas is never tainted) and saved with canvas.toBlob. */
var THEMES = [
  ["#1ed760", "#119146", "#04140a"], ["#7654ff", "#2b1a8f", "#ffffff"], ["#e80d33", "#8f1a4b", "#ffffff"],
  ["#ffb547", "#df4b0e", "#1a0d00"], ["#077f9c", "#1e3a8a", "#ffffff"], ["#f0abfc", "#935df0", "#16052b"]
];
var FONT = "Inter, 'Segoe UI', system-ui, -apple-system, Roboto, Arial, sans-serif";

function fitText(ctx, text, maxWidth, size, weight) {
  var s = size;
  ctx.font = weight + " " + s + "px " + FONT;
  while (s > 18 && ctx.measureText(text).width > maxWidth) { s -= 4; ctx.font = weight + " " + s + "px " + FONT; }
  if (ctx.measureText(text).width <= maxWidth) return text;
  var cut = text;
  while (cut.length > 1 && ctx.measureText(cut + "…").width > maxWidth) cut = cut.slice(0, -1);
  return cut + "…";
}

brapped.drawCard = function (card) {
  var W = 1080, H = 1350, P = 90;
  var canvas = document.createElement("canvas");
  canvas.width = W; canvas.height = H;
  var ctx = canvas.getContext("2d");
  var theme = THEMES[card.theme % THEMES.length];
  var bg = ctx.createLinearGradient(0, 0, W, H);
  bg.addColorStop(0, theme[0]); bg.addColorStop(0.75, theme[1]); bg.addColorStop(1, theme[1]);
  ctx.fillStyle = bg; ctx.fillRect(0, 0, W, H);
  ctx.globalAlpha = 0.12; ctx.fillStyle = "#ffffff";
  ctx.beginPath(); ctx.arc(W - 120, 160, 320, 0, Math.PI * 2); ctx.fill();
  ctx.globalAlpha = 1;
  ctx.fillStyle = theme[2]; ctx.textBaseline = "alphabetic";
  ctx.font = "800 34px " + FONT;
  ctx.fillText(fitText(ctx, String(card.eyebrow || "").toUpperCase(), W - 2 * P, 34, "800"), P, P + 30);
  var y = 430;
  if (card.big) {
    var big = fitText(ctx, String(card.big), W - 2 * P, 190, "900");
    ctx.fillText(big, P, y); y += 90;
  } else { y = 330; }
  // Names isolated as on the page (the template's <bdi>): the canvas orders text as a paragraph does.
  var headline = fitText(ctx, brapped.isolate(card.headline || ""), W - 2 * P, 76, "800");
  ctx.fillText(headline, P, y); y += 110;
  var lines = (card.lines || []).slice(0, 5);
  var labels = lines.map(function (line, i) { return (card.big ? "" : (i + 1) + ".  ") + brapped.isolate(line[0]); });
  // One size for every line (the smallest that fits the longest, never under 30 px), then ellipsis.
  var size = 48;
  while (size > 30 && labels.some(function (t) { ctx.font = "700 " + size + "px " + FONT; return ctx.measureText(t).width > W - 2 * P - 300; })) size -= 2;
  lines.forEach(function (line, i) {
    ctx.globalAlpha = 1;
    ctx.font = "700 " + size + "px " + FONT;
    var label = labels[i];
    while (label.length > 1 && ctx.measureText(label).width > W - 2 * P - 300) label = label.slice(0, -2) + "…";
    ctx.fillText(label, P, y);
    ctx.font = "500 36px " + FONT;
    var note = String(line[1] || "");
    ctx.fillText(note, W - P - ctx.measureText(note).width, y);
    y += 92;
  });
  // Notes in full colour, as on the page: faded, they fell under 4.5:1 on the gradient.
  if (card.note) ctx.fillText(fitText(ctx, String(card.note), W - 2 * P, 32, "600"), P, H - P - 60);
  ctx.font = "800 30px " + FONT;
  ctx.fillText(String(card.foot || "brapped"), P, H - P);
  ctx.globalAlpha = 1;
  return canvas;
};

// A card's data: its data-card, or (for cards other features add) what its text says.
function cardData(node, index) {
  if (node.hasAttribute("data-card")) {
    try { return JSON.parse(node.getAttribute("data-card")); } catch (e) { /* drawn from the text below */ }
  }
  function text(selector) { var found = node.querySelector(selector); return found ? found.textContent.trim() : ""; }
  return {
    theme: index, eyebrow: text(".eyebrow, h2, h3") || "brapped", big: text(".big"),
    headline: text(".headline, h1, p, legend") || text("h2"),
    lines: Array.prototype.slice.call(node.querySelectorAll("li")).slice(0, 5).map(function (li) { return [li.textContent.trim(), ""]; }),
    note: "", file: "brapped-wrapped-" + (node.getAttribute("data-card-key") || index + 1) + ".png"
  };
}

function canShareFiles() {
  try {
    return !!(navigator.canShare && navigator.share &&
      navigator.canShare({ files: [new File([new Uint8Array(1)], "card.png", { type: "image/png" })] }));
  } catch (e) { return false; }
}

function download(blob, name) {
  var url = URL.createObjectURL(blob);
  var a = el("a", { href: url, download: name });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
}

// The PNG of each card, drawn once: ready before the tap, so sharing starts within the tap itself
// (Safari refuses navigator.share once the tap's activation has been spent waiting).
var prepared = new WeakMap();
brapped.prepareShare = function (node, index) {
  if (!prepared.has(node)) {
    var card = cardData(node, index);
    var entry = { card: card, file: null };
    entry.promise = new Promise(function (done) { brapped.drawCard(card).toBlob(done, "image/png"); }).then(function (blob) {
      entry.file = new File([blob], card.file || "brapped-wrapped.png", { type: "image/png" });
      return entry.file;
    });
    prepared.set(node, entry);
  }
  return prepared.get(node);
};

// Share the card's PNG where the browser shares files (phones), else save it.
brapped.shareCard = function (node, index) {
  var entry = brapped.prepareShare(node, index);
  function send(file) {
    if (canShareFiles() && navigator.canShare({ files: [file] })) {
      return navigator.share({ files: [file], title: "My brapped Wrapped", text: entry.card.headline || "" })
        .catch(function (error) { if (!error || error.name !== "AbortError") download(file, file.name); });
    }
    download(file, file.name);
    return Promise.resolve();
  }
  return entry.file ? send(entry.file) : entry.promise.then(send);
};

brapped.initWrapped = function () {
  var sharing = canShareFiles();
  document.querySelectorAll(".story-card[data-card]").forEach(function (node, index) {
    var button = node.querySelector("[data-download]");
    if (!button) return;
    if (sharing) button.textContent = "Share";
    button.addEventListener("click", function () {
      if (sharing) { brapped.shareCard(node, index); return; }
      var card = cardData(node, index);
      brapped.drawCard(card).toBlob(function (blob) { download(blob, card.file || "brapped-wrapped.png"); }, "image/png");
    });
  });
  if (brapped.initStory) brapped.initStory();
};
