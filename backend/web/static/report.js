/* Draws the report's charts with uPlot from the JSON block the page carries (the CSP allows no
 * inline script). Each chart's uPlot instance is exposed as window.careloopCharts[id], and its
 * element carries data-points (the non-empty points of each series drawn, a daily limit line
 * included), for tests and for the curious. */
(function () {
  "use strict";

  var PRINT_WIDTH = 703;   // A4 portrait inside 12 mm margins, in CSS pixels
  var PRINT_GAP = 16;      // between the printed columns of a grid of charts
  // Line charts (symptoms) and bar charts (doses), on screen and on paper.
  var HEIGHT = {line: 200, bars: 150};
  var PRINT_HEIGHT = {line: 84, bars: 68};
  var AXIS_FONT = "11px system-ui, sans-serif";
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
      series.push({label: chart.limit_label || "limit", stroke: LIMIT_COLOUR, width: 1.5, dash: [6, 4],
                   points: {show: false}});
    }
    return {
      width: width, height: HEIGHT[chart.kind], tzDate: inUTC,
      scales: {x: {time: true}, y: {range: yRange(chart)}},
      axes: [{values: dayTicks, space: 60, size: 28, font: AXIS_FONT},
             {size: 44, space: 20, font: AXIS_FONT}],
      series: series,
      cursor: {drag: {x: false, y: false}},
      // A legend only where a chart draws more than one series; a bar chart's title names it.
      legend: {show: !bars && series.length > 2, live: true}
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
    return Math.max(200, Math.floor(element.clientWidth));
  }

  // The width of a chart on paper: its grid's share of the printed line.
  function printWidthOf(figure) {
    var columns = +(figure.closest("[data-print-columns]").dataset.printColumns || 1);
    return Math.floor((PRINT_WIDTH - PRINT_GAP * (columns - 1)) / columns);
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

  function fit(printing) {
    data.charts.forEach(function (chart) {
      var figure = document.querySelector('[data-chart="' + chart.id + '"]');
      var canvas = figure.querySelector(".chart-canvas");
      charts[chart.id].setSize(printing
        ? {width: printWidthOf(figure), height: PRINT_HEIGHT[chart.kind]}
        : {width: widthOf(canvas), height: HEIGHT[chart.kind]});
    });
  }

  var printMedia = window.matchMedia("print");
  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () { fit(printMedia.matches); }, 100);
  });
  // Canvases do not reflow: redraw at the printed page's width, and back afterwards.
  window.addEventListener("beforeprint", function () { fit(true); });
  window.addEventListener("afterprint", function () { fit(printMedia.matches); });
  // Print previews and emulated print media switch media without print events.
  printMedia.addEventListener("change", function (event) { fit(event.matches); });
})();
