// Interactive charts over the server-drawn SVG (which stays for browsers
// without JavaScript): uPlot, as Grafana's time-series panels use, with
// values on hover and drag-to-zoom, which reloads the page on the range.
(function () {
  if (!window.uPlot) return;
  function duration(ms) {
    if (ms === 0) return "0";
    var a = Math.abs(ms);
    if (a >= 3600000) return (ms / 3600000).toFixed(1) + " h";
    if (a >= 60000) return (ms / 60000).toFixed(1) + " min";
    if (a >= 10000) return (ms / 1000).toFixed(0) + " s";
    if (a >= 1000) return (ms / 1000).toFixed(1) + " s";
    if (a >= 10) return ms.toFixed(0) + " ms";
    return ms.toFixed(1) + " ms";
  }
  function formatter(unit) {
    if (unit === "ms") return duration;
    if (unit === "ratio") return function (v) { return (v * 100).toFixed(1) + " %"; };
    var suffix = unit === "records" ? " records" : "";
    return function (v) {
      var a = Math.abs(v);
      var text = a >= 1e6 ? (v / 1e6).toFixed(1) + "M" : a >= 1e4 ? (v / 1e3).toFixed(1) + "k" : String(Math.round(v * 100) / 100);
      return text + suffix;
    };
  }
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  // 24-hour UTC clock, as the server's charts and Grafana write it.
  function clock(u, vals) {
    return vals.map(function (v) {
      var d = new Date(v * 1000);
      return pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
    });
  }
  // Counts step by whole numbers.
  var wholeSteps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6];
  function zoomTo(from, to) {
    var params = new URLSearchParams(location.search);
    params.delete("window");
    params.set("from", new Date(from * 1000).toISOString());
    params.set("to", new Date(to * 1000).toISOString());
    location.search = params.toString();
  }
  function draw(root) {
  Array.prototype.forEach.call(root.querySelectorAll("figure.chart[data-chart]"), function (figure) {
    var data;
    try { data = JSON.parse(figure.dataset.chart); } catch (e) { return; }
    if (!data.x.length) return;
    var fmt = formatter(data.unit);
    var series = [{ label: "time (UTC)", value: "{YYYY}-{MM}-{DD} {HH}:{mm}" }];
    data.series.forEach(function (s) {
      series.push({
        label: s.name,
        stroke: s.colour,
        width: 1.8,
        spanGaps: false,
        value: function (u, v) { return v == null ? "—" : fmt(v); },
      });
    });
    var axisColour = getComputedStyle(document.body).color;
    var opts = {
      width: Math.max(figure.clientWidth - 16, 240),
      height: 200,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      scales: {
        x: { time: true, min: Number(figure.dataset.from), max: Number(figure.dataset.to) },
        y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } },
      },
      axes: [
        { stroke: axisColour, grid: { stroke: "rgba(128,128,128,.25)" }, values: clock },
        {
          stroke: axisColour,
          size: 70,
          grid: { stroke: "rgba(128,128,128,.25)" },
          incrs: data.unit === "number" || data.unit === "records" ? wholeSteps : undefined,
          values: function (u, vals) { return vals.map(fmt); },
        },
      ],
      cursor: { drag: { x: true, y: false } },
      hooks: {
        setSelect: [function (u) {
          if (u.select.width < 4) return;
          var from = u.posToVal(u.select.left, "x");
          var to = u.posToVal(u.select.left + u.select.width, "x");
          zoomTo(from, to);
        }],
      },
      series: series,
    };
    var columns = [data.x].concat(data.series.map(function (s) { return s.values; }));
    figure.classList.add("interactive");
    var plot = new uPlot(opts, columns, figure);
    figure.uplot = plot;
  });
  }
  // Live refresh swaps the page's <main>; it draws the new charts again.
  window.weirDrawCharts = draw;
  draw(document);
})();
