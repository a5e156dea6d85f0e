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

  function option(list, who, index, still, size) {
    var frame = list[index];
    var duration = still ? 0 : STEP_MS;
    return {
      backgroundColor: "transparent",
      textStyle: { color: "#9aa3b8", fontFamily: "Inter, system-ui, sans-serif" },
      grid: { left: 150, right: 60, top: 8, bottom: 28 },
      animation: !still,
      animationDuration: 0,
      animationDurationUpdate: duration,
      animationEasing: "linear",
      animationEasingUpdate: "linear",
      xAxis: { type: "value", max: "dataMax", axisLabel: { color: "#9aa3b8" }, splitLine: { lineStyle: { color: "#262c3d" } } },
      yAxis: {
        type: "category", inverse: true, max: size - 1, data: who.ids,
        axisLabel: { color: "#eef1f7", width: 140, overflow: "truncate", formatter: function (id) { return who.names[id]; } },
        axisLine: { lineStyle: { color: "#262c3d" } },
        animationDuration: still ? 0 : 300, animationDurationUpdate: still ? 0 : 300
      },
      series: [{
        type: "bar", realtimeSort: true, data: values(frame, who.ids), barMaxWidth: 26,
        label: { show: true, position: "right", color: "#eef1f7", valueAnimation: !still }
      }],
      graphic: { elements: [{ type: "text", right: 70, bottom: 40, style: { text: frame.label, font: "bold 30px Inter, system-ui, sans-serif", fill: "rgba(238,241,247,.35)" } }] }
    };
  }

  var race = {
    build: function (data, node) {
      var list = frames(data.race);
      if (!list.length) return null;
      node._race = { list: list, who: roster(list), size: (data.race && data.race.size) || 10 };
      var still = reduced();
      node._race.index = still ? list.length - 1 : 0;
      return option(list, node._race.who, node._race.index, true, node._race.size);
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
        chart.setOption(option(state.list, state.who, index, still || reduced(), state.size));
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
      if (label) label.textContent = state.list[state.index].label;
      node.setAttribute("data-frame", String(state.index));
      if (!reduced() && state.list.length > 1) start();
    }
  };
  window.brapped = window.brapped || {};
  window.brapped.race = race;
})();
