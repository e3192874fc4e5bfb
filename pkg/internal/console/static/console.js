// extsync console: the only script. It reloads one part of the page
// every few seconds (main[data-refresh]; main[data-swap] names the
// element, by default the overview's table) without reloading the page,
// stops while the tab is hidden, and stops for good once the fresh page
// asks for no more refreshes (a finished replay). Everything else works
// without it.
"use strict";
(function () {
  var main = document.querySelector("main[data-refresh]");
  if (!main) return;
  var every = Number(main.getAttribute("data-refresh")) * 1000;
  var id = main.getAttribute("data-swap") || "overview";
  var timer;
  function refresh() {
    if (document.hidden) return;
    var old = document.getElementById(id);
    // Keep keyboard focus where it is: no swap while it is in the part.
    if (old && old.contains(document.activeElement)) return;
    fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById(id);
        var cur = document.getElementById(id);
        if (fresh && cur) cur.replaceWith(document.importNode(fresh, true));
        if (!doc.querySelector("main[data-refresh]")) clearInterval(timer);
      })
      .catch(function () { /* keep what is shown; the next round tries again */ });
  }
  timer = setInterval(refresh, every);
})();
