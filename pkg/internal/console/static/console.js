// extsync console: the only script. It reloads the overview's table
// every few seconds (main[data-refresh]) without reloading the page, and
// stops while the tab is hidden. Everything else works without it.
"use strict";
(function () {
  var main = document.querySelector("main[data-refresh]");
  if (!main) return;
  var every = Number(main.getAttribute("data-refresh")) * 1000;
  function refresh() {
    if (document.hidden) return;
    var old = document.getElementById("overview");
    // Keep keyboard focus where it is: no swap while it is in the table.
    if (old && old.contains(document.activeElement)) return;
    fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("overview");
        var cur = document.getElementById("overview");
        if (fresh && cur) cur.replaceWith(document.importNode(fresh, true));
      })
      .catch(function () { /* keep what is shown; the next round tries again */ });
  }
  setInterval(refresh, every);
})();
