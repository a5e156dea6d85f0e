/* Charts from the page's JSON (#page-data) with the vendored Apache ECharts, rendered as SVG. */
"use strict";

(function () {
  var ACCENT = "#1ed760", ACCENT2 = "#7c5cff", MUTED = "#9aa3b8", LINE = "#262c3d";
  var WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  var HOURS = []; for (var h = 0; h < 24; h++) HOURS.push(String(h).padStart(2, "0"));
  var base = {
    backgroundColor: "transparent",
    textStyle: { color: MUTED, fontFamily: "Inter, system-ui, sans-serif" },
    grid: { left: 48, right: 16, top: 16, bottom: 32 },
    tooltip: { backgroundColor: "#1c2130", borderColor: LINE, textStyle: { color: "#eef1f7" } }
  };
  function axis(extra) {
    return Object.assign({ axisLine: { lineStyle: { color: LINE } }, axisLabel: { color: MUTED }, splitLine: { lineStyle: { color: LINE } } }, extra || {});
  }
  function merge(option) { return Object.assign({}, base, option); }
  function gradient() {
    return new echarts.graphic.LinearGradient(0, 0, 0, 1, [{ offset: 0, color: ACCENT }, { offset: 1, color: "rgba(30,215,96,.15)" }]);
  }
  // Phones: fewer ticks, so labels never collide (ECharts hides the ones that would overlap too).
  function narrow(node) { return !!node && node.clientWidth < 520; }
  function valueAxis(node) { return axis({ type: "value", splitNumber: narrow(node) ? 3 : 5 }); }
  function categoryLabels(node, extra) {
    // The first and last labels inside the plot, not half under the value axis's numbers.
    var phone = narrow(node) ? { fontSize: 11, alignMinLabel: "left", alignMaxLabel: "right" } : {};
    return Object.assign({ color: MUTED, hideOverlap: true }, phone, extra || {});
  }
  // Gives `node` its own horizontal scroller `width` px wide, labelled, showing the latest (right) end.
  function scrollable(node, width, hint) {
    if (node.parentNode.classList.contains("chart-scroll")) return;
    var scroller = document.createElement("div");
    scroller.className = "chart-scroll";
    scroller.setAttribute("tabindex", "0");
    scroller.setAttribute("aria-label", (node.getAttribute("aria-label") || "Chart") + ", scrolls sideways");
    node.parentNode.insertBefore(scroller, node);
    scroller.appendChild(node);
    node.style.width = width + "px";
    var note = document.createElement("p");
    note.className = "chart-hint";
    note.textContent = hint;
    scroller.after(note);
    requestAnimationFrame(function () { scroller.scrollLeft = scroller.scrollWidth; });
  }
  function maxOf(values) { return values.reduce(function (a, b) { return Math.max(a, b); }, 0) || 1; }

  var builders = {
    days: function (data, node) {
      var days = data.days || [];
      return merge({
        grid: narrow(node) ? { left: 40, right: 12, top: 12, bottom: 28 } : base.grid,
        tooltip: Object.assign({ trigger: "axis" }, base.tooltip),
        xAxis: axis({ type: "category", data: days.map(function (d) { return d.date; }), splitLine: { show: false },
          axisLabel: categoryLabels(node, narrow(node) ? { formatter: function (v) { return v.slice(5); } } : {}) }),
        yAxis: valueAxis(node),
        series: [{ type: days.length > 60 ? "line" : "bar", data: days.map(function (d) { return d.minutes; }),
          itemStyle: { color: gradient(), borderRadius: [4, 4, 0, 0] }, areaStyle: days.length > 60 ? { color: gradient() } : undefined,
          lineStyle: { color: ACCENT }, showSymbol: false, name: "minutes" }]
      });
    },
    clock: function (data, node) {
      // insights' listening_clock: minutes[weekday][hour], Monday first.
      var cells = [];
      ((data.clock && data.clock.minutes) || []).forEach(function (row, weekday) {
        row.forEach(function (value, hour) { cells.push([hour, weekday, value]); });
      });
      return merge({
        grid: narrow(node) ? { left: 36, right: 8, top: 8, bottom: 56 } : { left: 48, right: 16, top: 8, bottom: 56 },
        tooltip: Object.assign({ formatter: function (p) { return WEEKDAYS[p.value[1]] + " " + HOURS[p.value[0]] + ":00 · " + p.value[2] + " min"; } }, base.tooltip),
        // Every third hour on a phone: 00, 03, 06 ... 21.
        xAxis: axis({ type: "category", data: HOURS, splitArea: { show: false }, axisLabel: categoryLabels(node, { interval: narrow(node) ? 2 : "auto" }) }),
        yAxis: axis({ type: "category", data: WEEKDAYS, inverse: true }),
        visualMap: { min: 0, max: maxOf(cells.map(function (c) { return c[2]; })), calculable: false, orient: "horizontal", left: "center", bottom: 0,
          itemHeight: 120, textStyle: { color: MUTED }, inRange: { color: ["#1c2130", ACCENT2, ACCENT] } },
        series: [{ type: "heatmap", data: cells, itemStyle: { borderColor: "#0b0d12", borderWidth: 2, borderRadius: 3 }, name: "minutes" }]
      });
    },
    calendar: function (data, node) {
      var days = data.days || [];
      if (!days.length) return null;
      var start = days[0].date, end = days[days.length - 1].date;
      var values = days.map(function (d) { return [d.date, d.minutes]; });
      // A calendar of years is too wide: show the last 53 weeks of the period.
      if (days.length > 371) { start = days[days.length - 371].date; values = values.slice(-371); }
      var weeks = Math.ceil(values.length / 7) + 1;
      // On a phone a long calendar keeps readable cells and scrolls sideways inside its card instead.
      var wide = narrow(node) && weeks * 14 + 56 > node.clientWidth;
      if (wide) scrollable(node, weeks * 14 + 56, "Swipe sideways for earlier weeks");
      return merge({
        tooltip: Object.assign({ formatter: function (p) { return p.value[0] + " · " + p.value[1] + " min"; } }, base.tooltip),
        visualMap: { min: 0, max: maxOf(values.map(function (v) { return v[1]; })), show: false, inRange: { color: ["#1c2130", "#2a6b4a", ACCENT] } },
        calendar: Object.assign({ range: [start, end], top: 28, bottom: 8 },
          // Long periods fill the width; short ones get wide-ish cells, centred.
          wide ? { cellSize: [14, 18], left: 40, right: 16 }
            : values.length > 200 ? { cellSize: ["auto", 18], left: 40, right: 16 }
            : { cellSize: [Math.max(16, Math.min(44, Math.floor((node.clientWidth - 80) / (Math.ceil(values.length / 7) + 1)))), 20], left: "center" }, {
          itemStyle: { color: "#151923", borderColor: "#0b0d12", borderWidth: 3 }, splitLine: { show: false },
          dayLabel: { color: MUTED, firstDay: 1, nameMap: "en" }, monthLabel: { color: MUTED }, yearLabel: { show: false } }),
        series: [{ type: "heatmap", coordinateSystem: "calendar", data: values, name: "minutes" }]
      });
    },
    genres: function (data, node) {
      var rows = (data.genres || []).slice().reverse();
      var labels = narrow(node) ? 96 : 128;
      return merge({
        grid: { left: labels + 12, right: 24, top: 8, bottom: 24 },
        tooltip: Object.assign({ trigger: "axis" }, base.tooltip),
        xAxis: valueAxis(node),
        yAxis: axis({ type: "category", data: rows.map(function (g) { return g.genre; }), splitLine: { show: false },
          axisLabel: { color: MUTED, width: labels, overflow: "truncate" } }),
        series: [{ type: "bar", data: rows.map(function (g) { return g.plays; }), name: "plays", barMaxWidth: 28,
          itemStyle: { color: new echarts.graphic.LinearGradient(0, 0, 1, 0, [{ offset: 0, color: ACCENT2 }, { offset: 1, color: ACCENT }]), borderRadius: [0, 6, 6, 0] } }]
      });
    },
    countries: function (data) {
      var rows = (data.countries || []).slice().reverse();
      return merge({
        grid: { left: 56, right: 24, top: 8, bottom: 24 },
        tooltip: Object.assign({ trigger: "axis" }, base.tooltip),
        xAxis: axis({ type: "value" }),
        yAxis: axis({ type: "category", data: rows.map(function (c) { return c.country; }), splitLine: { show: false } }),
        series: [{ type: "bar", data: rows.map(function (c) { return c.plays; }), name: "plays", barMaxWidth: 28,
          itemStyle: { color: gradient(), borderRadius: [0, 6, 6, 0] } }]
      });
    },
    hours: function (data, node) {
      var hours = data.hours || [];
      return merge({
        grid: narrow(node) ? { left: 40, right: 12, top: 12, bottom: 28 } : base.grid,
        tooltip: Object.assign({ trigger: "axis" }, base.tooltip),
        xAxis: axis({ type: "category", data: HOURS.slice(0, hours.length), splitLine: { show: false },
          axisLabel: categoryLabels(node, { interval: narrow(node) ? 2 : "auto" }) }),
        yAxis: valueAxis(node),
        series: [{ type: "bar", data: hours, name: "minutes", itemStyle: { color: gradient(), borderRadius: [4, 4, 0, 0] } }]
      });
    },
    months: function (data, node) {
      var months = data.months || [];
      var keys = data.month_series || [["plays", "plays"]];
      return merge({
        legend: keys.length > 1 ? { textStyle: { color: MUTED }, top: 0 } : undefined,
        grid: { left: 48, right: 16, top: keys.length > 1 ? 32 : 16, bottom: 32 },
        tooltip: Object.assign({ trigger: "axis" }, base.tooltip),
        xAxis: axis({ type: "category", data: months.map(function (m) { return m.month; }), splitLine: { show: false },
          axisLabel: categoryLabels(node) }),
        yAxis: valueAxis(node),
        series: keys.map(function (k, i) {
          return { type: "bar", stack: "credit", name: k[1], data: months.map(function (m) { return m[k[0]] || 0; }),
            itemStyle: { color: i === 0 ? ACCENT : ACCENT2 } };
        })
      });
    }
  };

  // The artist race (race.js): built here like any chart, then animated by its own code.
  builders.race = function (data, node) { return brapped.race ? brapped.race.build(data, node) : null; };

  function render() {
    if (typeof echarts === "undefined") return;
    var data = brapped.pageData();
    var charts = [];
    document.querySelectorAll("[data-chart]").forEach(function (node) {
      var build = builders[node.getAttribute("data-chart")];
      var option = build ? build(data, node) : null;
      if (!option) return;
      var chart = echarts.init(node, null, { renderer: "svg" });
      chart.setOption(option);
      if (node.getAttribute("data-chart") === "race") brapped.race.animate(chart, data, node);
      node.setAttribute("data-rendered", "true");
      charts.push(chart);
    });
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  }
  brapped.chartBuilders = builders;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", render); else render();
})();
