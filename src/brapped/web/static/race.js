/* The artist race on the Wrapped page: a bar race (vendored ECharts, no network) of the top artists
   after each frame. Names are drawn as SVG text, never HTML. With prefers-reduced-motion the chart
   shows the final standings and moves only when asked (the slider, the Play button), without
   transitions. charts.js calls `build` for the [data-chart="race"] node, then `animate`. */
"use strict";

(function () {
  var COLORS = ["#1ed760", "#7c5cff", "#ff6b9a", "#ffb13d", "#3dc9ff", "#b4f06b", "#f06bd6", "#6bf0c8", "#ff8a5c", "#9aa3ff"];
  var STEP_MS = 1400;

  function reduced() {
    return window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  }

  /* Frames with a ranking, without the trailing ones that repeat the one before (the rest of an
     open year): nothing moves there. */
  function frames(race) {
    var out = (race && race.frames ? race.frames : []).filter(function (f) { return f.ranking.length; });
    while (out.length > 1 && JSON.stringify(out[out.length - 1].ranking) === JSON.stringify(out[out.length - 2].ranking)) out.pop();
    return out;
  }

  function roster(list) {
    var names = {}, ids = [];
    list.forEach(function (f) {
      f.ranking.forEach(function (a) { if (!(a.id in names)) { names[a.id] = a.name; ids.push(a.id); } });
    });
    return { names: names, ids: ids };
  }

  function values(frame, ids) {
    var credit = {};
    frame.ranking.forEach(function (a) { credit[a.id] = a.credit; });
    return ids.map(function (id, i) {
      return { value: credit[id] || 0, itemStyle: { color: COLORS[i % COLORS.length] } };
    });
  }

  /* The names' column and the frame label fit the chart's box: on a phone a fixed 140 px column left
     the bars no room and cut names to a few letters, and the label drawn over the plot covered the
     last bars' names and values. */
  function layout(node, size) {
    var width = node.clientWidth || 600, height = node.clientHeight || 380;
    var top = 40, bottom = 28, font = width < 500 ? 11 : 12, line = font + 2;
    var names = Math.round(Math.min(200, Math.max(96, width * 0.36)));
    var lines = Math.max(1, Math.floor(((height - top - bottom) / size - 2) / line));
    return { top: top, bottom: bottom, font: font, line: line, names: names, lines: lines };
  }

  var measure = null;

  /* A name as the lines it takes in `box.names` pixels, at most as many as a row holds (the last one
     then ends in "…"). ECharts' own wrapping ignores the row's height, so long names ran into the
     next row's; a word longer than the column breaks where it must. */
  function wrap(name, box) {
    if (!measure) measure = document.createElement("canvas").getContext("2d");
    measure.font = box.font + "px Inter, system-ui, sans-serif";
    function fits(text) { return measure.measureText(text).width <= box.names; }
    var lines = [], current = "";
    String(name).split(/\s+/).filter(Boolean).forEach(function (word) {
      var joined = current ? current + " " + word : word;
      if (fits(joined)) { current = joined; return; }
      if (current) lines.push(current);
      current = "";
      Array.from(word).forEach(function (ch) {
        if (current && !fits(current + ch)) { lines.push(current); current = ""; }
        current += ch;
      });
    });
    if (current) lines.push(current);
    if (lines.length > box.lines) {
      lines = lines.slice(0, box.lines);
      var last = lines[box.lines - 1];
      while (last && !fits(last + "…")) last = last.slice(0, -1);
      lines[box.lines - 1] = last.replace(/\s+$/, "") + "…";
    }
    return lines.join("\n");
  }

  function option(list, who, index, still, size, box) {
    var frame = list[index];
    var duration = still ? 0 : STEP_MS;
    return {
      backgroundColor: "transparent",
      textStyle: { color: "#9aa3b8", fontFamily: "Inter, system-ui, sans-serif" },
      grid: { left: box.names + 10, right: 60, top: box.top, bottom: box.bottom },
      animation: !still,
      animationDuration: 0,
      animationDurationUpdate: duration,
      animationEasing: "linear",
      animationEasingUpdate: "linear",
      xAxis: {
        type: "value", max: "dataMax", splitNumber: box.names < 150 ? 3 : 5,
        axisLabel: { color: "#9aa3b8", hideOverlap: true }, splitLine: { lineStyle: { color: "#262c3d" } }
      },
      yAxis: {
        type: "category", inverse: true, max: size - 1, data: who.ids,
        axisLabel: {
          color: "#eef1f7", fontSize: box.font, lineHeight: box.line,
          formatter: function (id) { return wrap(who.names[id], box); }
        },
        axisLine: { lineStyle: { color: "#262c3d" } },
        animationDuration: still ? 0 : 300, animationDurationUpdate: still ? 0 : 300
      },
      series: [{
        type: "bar", realtimeSort: true, data: values(frame, who.ids), barMaxWidth: 26,
        label: { show: true, position: "right", color: "#eef1f7", valueAnimation: !still }
      }],
      // Above the plot, not over it: nothing else is drawn in the grid's top margin.
      graphic: { elements: [{ type: "text", right: 8, top: 4, style: { text: frame.label, font: "bold 24px Inter, system-ui, sans-serif", fill: "rgba(238,241,247,.35)" } }] }
    };
  }

  var race = {
    build: function (data, node) {
      var list = frames(data.race);
      if (!list.length) return null;
      node._race = { list: list, who: roster(list), size: (data.race && data.race.size) || 10 };
      var still = reduced();
      node._race.index = still ? list.length - 1 : 0;
      return option(list, node._race.who, node._race.index, true, node._race.size, layout(node, node._race.size));
    },
    animate: function (chart, data, node) {
      var state = node._race;
      if (!state) return;
      var box = node.closest("[data-race]") || document;
      var slider = box.querySelector("[data-race-frame]");
      var label = box.querySelector("[data-race-label]");
      var play = box.querySelector("[data-race-play]");
      var text = box.querySelector("[data-race-text]");
      var timer = null;
      if (text) text.open = false;  // the chart now says it; the list stays one click away
      function show(index, still) {
        state.index = index;
        chart.setOption(option(state.list, state.who, index, still || reduced(), state.size, layout(node, state.size)));
        if (slider) slider.value = String(index);
        if (label) label.textContent = state.list[index].label;
        node.setAttribute("data-frame", String(index));
      }
      function stop() {
        if (timer) window.clearInterval(timer);
        timer = null;
        if (play) { play.textContent = "Play"; play.setAttribute("aria-pressed", "false"); }
      }
      function start() {
        if (state.index >= state.list.length - 1) show(0, true);
        if (play) { play.textContent = "Pause"; play.setAttribute("aria-pressed", "true"); }
        timer = window.setInterval(function () {
          show(state.index + 1, false);
          if (state.index >= state.list.length - 1) stop();  // the last frame: the race is over
        }, reduced() ? 700 : STEP_MS);
      }
      if (slider) {
        slider.max = String(state.list.length - 1);
        slider.value = String(state.index);
        slider.addEventListener("input", function () { stop(); show(Number(slider.value), true); });
      }
      if (play) play.addEventListener("click", function () { if (timer) stop(); else start(); });
      // A turned phone has another width: the names' column follows (charts.js resizes the chart).
      // Only a new width lays it out again, once the resizing settles: a phone's URL bar hiding
      // on scroll is a resize too, and must not snap a playing race to its frame.
      var laidOutWidth = node.clientWidth, settle = null;
      window.addEventListener("resize", function () {
        if (settle) window.clearTimeout(settle);
        settle = window.setTimeout(function () {
          settle = null;
          if (node.clientWidth === laidOutWidth) return;
          laidOutWidth = node.clientWidth;
          show(state.index, true);
        }, 150);
      });
      if (label) label.textContent = state.list[state.index].label;
      node.setAttribute("data-frame", String(state.index));
      if (!reduced() && state.list.length > 1) start();
    }
  };
  window.brapped = window.brapped || {};
  window.brapped.race = race;
})();
