/* Draws the report's charts with uPlot from the JSON block the page carries (the CSP allows no
 * inline script). Each chart's uPlot instance is exposed as window.careloopCharts[id], and its
 * element carries data-points (the non-empty points of each series drawn, a daily limit line
 * included), for tests and for the curious. */
(function () {
  "use strict";

  var PRINT_WIDTH = 680;   // A4 portrait inside 15 mm margins, in CSS pixels
  var HEIGHT = 220;
  var COLOURS = ["#1f4e79", "#c0392b", "#2e7d32", "#8e44ad", "#d35400", "#00838f"];
  var BAR_COLOUR = "#00838f";
  var LIMIT_COLOUR = "#b71c1c";

  var data = JSON.parse(document.getElementById("report-data").textContent);
  // Local days as UTC midnights, drawn in UTC: the axis shows the patient's calendar dates
  // whatever the zone of the browser reading them.
  var days = data.days.map(function (iso) {
    var parts = iso.split("-");
    return Date.UTC(+parts[0], +parts[1] - 1, +parts[2]) / 1000;
  });
  var charts = {};

  function inUTC(seconds) {
    return uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC");
  }

  var dayLabel = uPlot.fmtDate("{D} {MMM}");

  function dayTicks(u, splits) {
    return splits.map(function (seconds) { return dayLabel(inUTC(seconds)); });
  }

  function countPoints(values) {
    return values.filter(function (v) { return v !== null; }).length;
  }

  function yRange(chart) {
    return function (u, dataMin, dataMax) {
      var low = chart.min === null ? Math.min(0, dataMin) : chart.min;
      var high = chart.max === null ? Math.max(dataMax || 0, chart.limit || 0) * 1.1 || 1 : chart.max;
      return [low, high];
    };
  }

  function options(chart, width) {
    var bars = chart.kind === "bars";
    var series = [{}].concat(chart.series.map(function (s, i) {
      var colour = bars ? BAR_COLOUR : COLOURS[i % COLOURS.length];
      return bars
        ? {label: s.label, stroke: colour, fill: colour + "99", width: 1,
           paths: uPlot.paths.bars({size: [0.7, 24]}), points: {show: false}}
        : {label: s.label, stroke: colour, width: 2, spanGaps: false,
           points: {show: true, size: 5, fill: colour}};
    }));
    if (chart.limit !== null) {
      series.push({label: "daily limit", stroke: LIMIT_COLOUR, width: 1.5, dash: [6, 4],
                   points: {show: false}});
    }
    return {
      width: width, height: HEIGHT, tzDate: inUTC,
      scales: {x: {time: true}, y: {range: yRange(chart)}},
      axes: [{values: dayTicks}, {size: 44}],
      series: series,
      cursor: {drag: {x: false, y: false}},
      legend: {live: true}
    };
  }

  function seriesData(chart) {
    var columns = [days].concat(chart.series.map(function (s) { return s.values; }));
    if (chart.limit !== null) {
      columns.push(days.map(function () { return chart.limit; }));
    }
    return columns;
  }

  function widthOf(element) {
    return Math.max(280, Math.floor(element.clientWidth));
  }

  data.charts.forEach(function (chart) {
    var figure = document.querySelector('[data-chart="' + chart.id + '"]');
    var target = figure.querySelector(".chart-canvas");
    var plot = new uPlot(options(chart, widthOf(target)), seriesData(chart), target);
    charts[chart.id] = plot;
    figure.dataset.points = plot.data.slice(1).map(countPoints).join(",");
    figure.dataset.rendered = "true";
  });
  window.careloopCharts = charts;

  function fit(width) {
    Object.keys(charts).forEach(function (id) {
      var plot = charts[id];
      var figure = document.querySelector('[data-chart="' + id + '"] .chart-canvas');
      plot.setSize({width: width || widthOf(figure), height: HEIGHT});
    });
  }

  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () { fit(); }, 100);
  });
  // Canvases do not reflow: redraw at the printed page's width, and back afterwards.
  window.addEventListener("beforeprint", function () { fit(PRINT_WIDTH); });
  window.addEventListener("afterprint", function () { fit(); });
})();
