// Live refresh, for pages that offer it: every 10 s, fetch the page again
// and swap its <main>, unless the person is typing or has turned it off.
(function () {
  var main = document.querySelector("main[data-live]");
  var toggle = document.getElementById("live");
  if (!main || !toggle) return;
  toggle.hidden = false;
  setInterval(function () {
    var box = toggle.querySelector("input");
    if (!box.checked || document.activeElement && document.activeElement.tagName === "INPUT") return;
    fetch(location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var next = new DOMParser().parseFromString(html, "text/html").querySelector("main");
        if (next) {
          main.innerHTML = next.innerHTML;
          if (window.weirDrawCharts) window.weirDrawCharts(main);
        }
      })
      .catch(function () {});
  }, 10000);
})();

// The waterfall's folds: ▾ on a span hides the spans under it (the rows
// that follow with a greater depth), unless JavaScript is off, where every
// span stays shown.
(function () {
  var table = document.querySelector("table[data-waterfall]");
  if (!table) return;
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  function refresh() {
    var foldedAt = Infinity;
    rows.forEach(function (row) {
      var depth = Number(row.dataset.depth);
      if (depth > foldedAt) { row.hidden = true; return; }
      foldedAt = Infinity;
      row.hidden = false;
      if (row.dataset.folded === "1") foldedAt = depth;
    });
  }
  rows.forEach(function (row) {
    var button = row.querySelector("button.fold");
    if (!button) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var folded = row.dataset.folded !== "1";
      row.dataset.folded = folded ? "1" : "0";
      button.setAttribute("aria-expanded", folded ? "false" : "true");
      refresh();
    });
  });
})();
