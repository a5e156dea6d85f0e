/* brapped's service worker: the app shell from cache, pages from the network, and the pages last
   seen from cache when the dashboard cannot be reached, marked with the time they were saved.

   Pages are kept per session: the server names it in X-Brapped-Session (a hash derived from the
   dashboard token, never the token itself). A page answered under another session, or a 401, empties
   every page cache before anything else, so pages seen with one token never open under another. */
"use strict";

var VERSION = __VERSION__;
var SHELL = "brapped-shell-" + VERSION;
var SHELL_URLS = __SHELL__;
var PAGES = "brapped-pages-";
var META = "brapped-meta";
var SESSION_KEY = "/__brapped/session";
var MAX_PAGES = 40;

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL).then(function (cache) { return cache.addAll(SHELL_URLS); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n.indexOf("brapped-shell-") === 0 && n !== SHELL; })
      .map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate") { event.respondWith(page(request)); return; }
  if (url.pathname.indexOf("/static/") === 0 || url.pathname === "/manifest.webmanifest") {
    event.respondWith(caches.match(request, { cacheName: SHELL }).then(function (hit) {
      return hit || fetch(request);
    }));
  }
  // Everything else (the JSON API above all) goes to the network as if there were no worker.
});

function page(request) {
  return fetch(request).then(function (response) {
    if (response.status === 401) return forget(null).then(function () { return response; });
    var session = response.headers.get("X-Brapped-Session");
    var type = response.headers.get("Content-Type") || "";
    var url = new URL(request.url);
    if (response.status !== 200 || !session || type.indexOf("text/html") !== 0 || url.searchParams.has("token")) {
      return response;
    }
    return remember(session, url.href, response.clone()).catch(function () {}).then(function () { return response; });
  }, function () { return offline(request); });
}

function currentSession() {
  return caches.open(META).then(function (cache) { return cache.match(SESSION_KEY); })
    .then(function (hit) { return hit ? hit.text() : null; });
}

// Delete every page cache except `keep`'s (all of them when `keep` is null).
function forget(keep) {
  return caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n.indexOf(PAGES) === 0 && n !== PAGES + keep; })
      .map(function (n) { return caches.delete(n); }));
  }).then(function () {
    return caches.open(META).then(function (cache) {
      return keep === null ? cache.delete(SESSION_KEY) : cache.put(SESSION_KEY, new Response(keep));
    });
  });
}

function remember(session, href, response) {
  return currentSession().then(function (current) {
    return current === session ? null : forget(session);
  }).then(function () {
    return response.blob();
  }).then(function (body) {
    var headers = new Headers(response.headers);
    headers.set("X-Brapped-Saved-At", new Date().toISOString());
    return caches.open(PAGES + session).then(function (cache) {
      // Deleted first so the page moves to the end of the cache's order: the oldest go first.
      return cache.delete(href).then(function () {
        return cache.put(href, new Response(body, { status: 200, headers: headers }));
      }).then(function () { return cache.keys(); }).then(function (keys) {
        return Promise.all(keys.slice(0, Math.max(0, keys.length - MAX_PAGES)).map(function (k) { return cache.delete(k); }));
      });
    });
  });
}

function offline(request) {
  return currentSession().then(function (session) {
    if (!session) return null;
    return caches.has(PAGES + session).then(function (has) {
      return has ? caches.open(PAGES + session).then(function (cache) { return cache.match(request.url); }) : null;
    });
  }).then(function (hit) {
    if (!hit) return savedPages().then(notSaved);
    var saved = hit.headers.get("X-Brapped-Saved-At") || "";
    return hit.text().then(function (html) {
      // The page's script (app.js) reads data-offline-at and says how old the page is.
      var marked = html.replace("<html", "<html data-offline-at=\"" + saved.replace(/[^0-9TZ:.+-]/g, "") + "\"");
      var headers = new Headers(hit.headers);
      headers.delete("Content-Length");
      return new Response(marked, { status: 200, headers: headers });
    });
  });
}

// The addresses of this session's saved pages, newest first.
function savedPages() {
  return currentSession().then(function (session) {
    if (!session) return [];
    return caches.has(PAGES + session).then(function (has) {
      if (!has) return [];
      return caches.open(PAGES + session).then(function (cache) { return cache.keys(); }).then(function (keys) {
        return keys.map(function (k) { var u = new URL(k.url); return u.pathname + u.search; }).reverse().slice(0, 12);
      });
    });
  });
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; });
}

function notSaved(saved) {
  var links = saved.map(function (path) {
    var label = path;
    try { label = decodeURIComponent(path); } catch (e) { /* shown encoded */ }
    return "<li><a href=\"" + escapeHtml(path) + "\">" + escapeHtml(label) + "</a></li>";
  }).join("");
  var html = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">" +
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Offline · brapped</title>" +
    "<link rel=\"stylesheet\" href=\"/static/app.css?v=" + encodeURIComponent(VERSION) + "\"></head>" +
    "<body><main class=\"main\"><div class=\"card error-card\"><h1>Offline</h1>" +
    "<p class=\"error-message\">The dashboard cannot be reached and this page was not saved on this device.</p>" +
    (links ? "<p>Saved here:</p><ul class=\"offline-saved\" data-offline-saved>" + links + "</ul>" : "") +
    "</div></main></body></html>";
  return new Response(html, { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
}
