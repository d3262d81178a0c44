// Progressive enhancement for the portal's new-ticket form: article suggestions while the customer types.
// Results are inserted as text nodes only (never HTML), so an article title cannot inject markup.
(function () {
  "use strict";
  var box = document.getElementById("suggestions");
  var description = document.getElementById("id_description");
  var subject = document.getElementById("id_subject");
  if (!box || !description) return;
  var list = box.querySelector("ul");
  var timer = null;
  var latest = 0;
  // This form's draft: the help center counts a deflection once per person, draft and article.
  var draft = (window.crypto && window.crypto.randomUUID) ? window.crypto.randomUUID() : String(Date.now()) + Math.random();

  function render(results) {
    list.textContent = "";
    results.forEach(function (item) {
      var li = document.createElement("li");
      var link = document.createElement("a");
      var url = String(item.url || "");
      // Only same-site paths or http(s) links; anything else (javascript:, data:) is shown as text.
      if (/^(\/(?!\/)|https?:\/\/)/i.test(url)) link.href = url + (url.indexOf("?") >= 0 ? "&" : "?") + "draft=" + encodeURIComponent(draft);
      // A new tab: what the customer has typed stays in this form if the article does not answer it.
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = String(item.title || url);
      li.appendChild(link);
      list.appendChild(li);
    });
    box.hidden = results.length === 0;
  }

  function lookup() {
    var text = ((subject && subject.value) || "") + " " + description.value;
    text = text.trim().slice(0, 200);
    if (text.length < 2) { render([]); return; }
    var request = ++latest;
    fetch(box.dataset.url + "?q=" + encodeURIComponent(text), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { results: [] }; })
      .then(function (data) { if (request === latest) render(Array.isArray(data.results) ? data.results : []); })
      .catch(function () { /* suggestions are optional: the form works without them */ });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(lookup, 300);
  }
  description.addEventListener("input", schedule);
  if (subject) subject.addEventListener("input", schedule);
})();
