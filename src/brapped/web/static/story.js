/* Wrapped as a story: full-screen cards, one at a time, with progress bars at the top. Tap the right
   of the screen or swipe left for the next, the left or swipe right for the one before, hold to
   pause, arrows and Escape on a keyboard. A touch screen opens it on load; a desktop keeps the
   scrolling page and a "Play as story" button.

   The cards are whatever the page puts in its `.story` section (and any element marked
   data-story-card): nothing is moved or copied, the current one is only shown fixed over the page,
   so cards that other features add join the story and keep their own behaviour. A card with a
   control of its own (a quiz) or data-story-wait does not advance by itself. */
"use strict";

(function () {
  var SECONDS = 7;
  var CONTROLS = "a, button, input, select, textarea, label, summary, [role=button], .story-chrome";

  function slides() {
    // A card is an element that shows something: the quiz brings its stylesheet's <link> along.
    return Array.prototype.slice.call(document.querySelectorAll(".story > *:not(.story-chrome):not(link):not(script):not(style), [data-story-card]"))
      .filter(function (n, i, all) { return all.indexOf(n) === i && !n.hasAttribute("hidden"); });
  }

  function waits(node) {
    return node.hasAttribute("data-story-wait") || !!node.querySelector("input, select, textarea, button:not([data-download])");
  }

  function make(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  brapped.initStory = function () {
    var section = document.querySelector(".story");
    if (!section || !slides().length) return;
    var index = 0, open = false, cards = [], press = null;
    var reduced = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

    var chrome = make("div", { class: "story-chrome", "data-story-index": "0" });
    var progress = make("div", { class: "story-progress", "aria-hidden": "true" });
    var status = make("span", { class: "visually-hidden", role: "status", "aria-live": "polite" });
    var close = make("button", { type: "button", class: "story-button story-close", "data-story-close": "", "aria-label": "Close the story" }, "✕");
    var share = make("button", { type: "button", class: "story-button story-share", "data-story-share": "" }, "Share");
    var actions = make("div", { class: "story-actions" });
    actions.appendChild(share);
    chrome.append(progress, status, close, actions);

    var starter = make("button", { type: "button", class: "chip story-start", "data-story-open": "" }, "Play as story");
    section.parentNode.insertBefore(starter, section);
    starter.addEventListener("click", function () { show(0); });

    function render() {
      cards.forEach(function (node, i) {
        node.classList.toggle("story-current", i === index);
        if (i === index) node.removeAttribute("aria-hidden"); else node.setAttribute("aria-hidden", "true");
      });
      progress.replaceChildren();
      cards.forEach(function (node, i) {
        var bar = make("span", { "data-state": i < index ? "done" : i === index ? "current" : "next" });
        var fill = make("i");
        if (i === index && !reduced && !waits(node) && i < cards.length - 1) {
          fill.style.animationDuration = SECONDS + "s";
          fill.addEventListener("animationend", function () { if (open && index === i) go(1); });
          bar.setAttribute("data-timed", "");
        }
        bar.appendChild(fill);
        progress.appendChild(bar);
      });
      chrome.setAttribute("data-story-index", String(index));
      status.textContent = "Card " + (index + 1) + " of " + cards.length;
      brapped.prepareShare(cards[index], index);
    }

    function show(at) {
      cards = slides();
      index = Math.max(0, Math.min(at, cards.length - 1));
      open = true;
      document.body.classList.add("story-open");
      document.body.appendChild(chrome);
      render();
      close.focus({ preventScroll: true });
    }

    function hide() {
      open = false;
      document.body.classList.remove("story-open", "story-paused");
      cards.forEach(function (node) { node.classList.remove("story-current"); node.removeAttribute("aria-hidden"); });
      chrome.remove();
      starter.focus({ preventScroll: true });
    }

    function go(step) {
      var next = index + step;
      if (next < 0 || next >= cards.length) return;
      index = next;
      render();
    }

    close.addEventListener("click", hide);
    share.addEventListener("click", function () { brapped.shareCard(cards[index], index); });

    document.addEventListener("keydown", function (event) {
      if (!open) return;
      if (event.key === "ArrowRight" || event.key === "PageDown") { go(1); event.preventDefault(); }
      else if (event.key === "ArrowLeft" || event.key === "PageUp") { go(-1); event.preventDefault(); }
      else if (event.key === "Escape") hide();
    });

    // One pointer model for fingers and mice: a short press is a tap, a long one a pause, a drag a swipe.
    document.addEventListener("pointerdown", function (event) {
      if (!open || !event.isPrimary || event.target.closest(CONTROLS)) return;
      press = { x: event.clientX, y: event.clientY, at: Date.now() };
      document.body.classList.add("story-paused");
    });
    document.addEventListener("pointerup", function (event) {
      if (!open || !press || !event.isPrimary) return;
      var dx = event.clientX - press.x, dy = event.clientY - press.y, held = Date.now() - press.at;
      press = null;
      document.body.classList.remove("story-paused");
      if (Math.abs(dx) > 40 && Math.abs(dx) > Math.abs(dy)) { go(dx < 0 ? 1 : -1); return; }
      if (dy > 100 && dy > Math.abs(dx)) { hide(); return; }  // swiped down: back to the page
      if (held > 350 || Math.abs(dx) > 10 || Math.abs(dy) > 10) return;  // a hold or a wobble
      go(event.clientX < window.innerWidth / 3 ? -1 : 1);
    });
    document.addEventListener("pointercancel", function () {
      press = null;
      document.body.classList.remove("story-paused");
    });
    // A long press is a pause, not the text menu a phone would open.
    document.addEventListener("contextmenu", function (event) { if (open && !event.target.closest(CONTROLS)) event.preventDefault(); });
    document.addEventListener("visibilitychange", function () {
      document.body.classList.toggle("story-paused", open && document.hidden);
    });

    // A phone opens the story; anything with a mouse keeps the page as it scrolls.
    if (window.matchMedia("(hover: none) and (pointer: coarse)").matches) show(0);
  };
})();
