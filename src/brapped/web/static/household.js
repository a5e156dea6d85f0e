/* brapped dashboard, several accounts: the listener chosen with ?user=ID follows every link to
   another dashboard page, and the user picker applies as soon as a listener is chosen. */
"use strict";

(function () {
  var user = new URLSearchParams(window.location.search).get("user");
  var pages = /^\/(?!static\/|api\/|compare|party)/;  // compare and party name their own listeners

  function carry(link) {
    var url;
    try { url = new URL(link.getAttribute("href"), window.location.href); } catch (e) { return; }
    if (url.origin !== window.location.origin || !pages.test(url.pathname)) return;
    if (url.searchParams.has("user")) return;
    url.searchParams.set("user", user);
    link.setAttribute("href", url.pathname + url.search + url.hash);
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (user) document.querySelectorAll("a[href]").forEach(carry);
    document.querySelectorAll("form[data-user-picker] select").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    if (user) {
      document.querySelectorAll("form[method=get]:not([data-user-picker])").forEach(function (form) {
        var action = form.getAttribute("action") || "";
        if (action && !pages.test(action)) return;
        if (form.querySelector("input[name=user]")) return;
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = "user";
        input.value = user;
        form.appendChild(input);
      });
    }
  });
})();
