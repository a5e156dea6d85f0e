/* Top Song Quiz: pick the song you streamed most, then see the answer. Works without a pointer:
   the choices are a radio group (arrow keys move and select, Home/End jump, Enter or Space answers),
   and the answer is announced through an aria-live region. No innerHTML: text only. Needs nothing
   else (the static share page loads it alone, from disk). */
"use strict";

(function () {
  function text(node, value) { node.textContent = String(value); }
  function name(value) { var node = document.createElement("bdi"); text(node, value); return node; }

  function initQuiz(root) {
    var data;
    try { data = JSON.parse(root.getAttribute("data-quiz")); } catch (e) { return; }
    var choices = Array.prototype.slice.call(root.querySelectorAll("[data-choice]"));
    var result = root.querySelector("[data-quiz-result]");
    var reveal = root.querySelector("[data-quiz-reveal]");
    if (!choices.length || !result) return;
    var answered = false;

    function select(index, focus) {
      choices.forEach(function (c, i) {
        var on = i === index;
        c.setAttribute("aria-checked", on ? "true" : "false");
        c.tabIndex = on ? 0 : -1;  // roving tabindex: Tab enters and leaves the group in one step
      });
      if (focus) choices[index].focus();
      if (reveal) reveal.disabled = answered;
    }

    // `index`: the choice guessed, or -1 when the answer is revealed without a guess.
    function answer(index) {
      if (answered) return;
      answered = true;
      if (index >= 0) select(index, false);
      var right = data.answer, top = data.choices[right], picked = data.choices[index];
      choices.forEach(function (c, i) {
        c.setAttribute("aria-disabled", "true");
        c.classList.add(i === right ? "is-answer" : "is-other");
        var note = c.querySelector("[data-choice-rank]");
        if (note) text(note, "#" + data.choices[i].rank + " · " + Number(data.choices[i].streams).toLocaleString("en") + " streams");
      });
      if (reveal) reveal.disabled = true;
      root.setAttribute("data-state", index < 0 ? "revealed" : index === right ? "right" : "wrong");
      var head = index < 0 ? "" : index === right ? "Yes! " : "Not quite: ";
      // Each name in a <bdi>: a right-to-left name would otherwise carry the sentence's numbers
      // and words to its side, and two of them side by side swap places.
      var line = [head + "“", name(top.name), "” by "];
      (top.artists || []).forEach(function (artist, i) { line.push(i ? ", " : "", name(artist)); });
      line.push(" was your #1, with " + Number(top.streams).toLocaleString("en") + " streams.");
      if (picked && index !== right) line.push(" “", name(picked.name), "” was #" + picked.rank + ".");
      result.replaceChildren.apply(result, line);
    }

    function checked() {
      for (var i = 0; i < choices.length; i++) if (choices[i].getAttribute("aria-checked") === "true") return i;
      return -1;
    }

    choices.forEach(function (c, i) {
      c.addEventListener("click", function () { if (!answered) { select(i, true); answer(i); } });
      c.addEventListener("keydown", function (event) {
        var n = choices.length, next = null;
        if (event.key === "ArrowDown" || event.key === "ArrowRight") next = (i + 1) % n;
        else if (event.key === "ArrowUp" || event.key === "ArrowLeft") next = (i - 1 + n) % n;
        else if (event.key === "Home") next = 0;
        else if (event.key === "End") next = n - 1;
        else if (event.key === "Enter" || event.key === " ") { event.preventDefault(); answer(i); return; }
        if (next === null) return;
        event.preventDefault();
        if (!answered) select(next, true); else choices[next].focus();
      });
    });
    if (reveal) {
      reveal.addEventListener("click", function () {
        answer(checked());
      });
    }
    root.setAttribute("data-ready", "true");
  }

  function start() {
    document.querySelectorAll("[data-quiz]").forEach(initQuiz);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
