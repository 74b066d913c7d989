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
        if (next) main.innerHTML = next.innerHTML;
      })
      .catch(function () {});
  }, 10000);
})();
