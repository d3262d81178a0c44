// Help center search box: suggestions from /api/v1/kb/suggestions/ while the reader types (debounced).
// Without JavaScript the box is a plain GET form to the search page.
(function () {
  "use strict";
  var form = document.querySelector("form.kb-search[data-suggest-url]");
  if (!form) return;
  var input = form.querySelector("input[name=q]");
  var list = form.querySelector(".kb-suggestions");
  var url = form.getAttribute("data-suggest-url");
  var timer = null;
  var latest = 0;

  function clear() {
    list.replaceChildren();
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
  }

  function show(results) {
    list.replaceChildren();
    results.forEach(function (item) {
      var li = document.createElement("li");
      li.setAttribute("role", "option");
      var link = document.createElement("a");
      link.href = item.url;
      link.textContent = item.title;  // text only: titles are never parsed as HTML
      var kind = document.createElement("small");
      kind.textContent = item.kind === "video" ? " · video" : "";
      li.append(link, kind);
      list.append(li);
    });
    list.hidden = results.length === 0;
    input.setAttribute("aria-expanded", results.length ? "true" : "false");
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    var text = input.value.trim();
    if (text.length < 2) { clear(); return; }
    timer = setTimeout(function () {
      var request = ++latest;
      fetch(url + "?q=" + encodeURIComponent(text), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { results: [] }; })
        .then(function (body) { if (request === latest) show(body.results || []); })
        .catch(clear);
    }, 250);
  });
  input.addEventListener("keydown", function (event) { if (event.key === "Escape") clear(); });
})();
