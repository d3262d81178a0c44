// Progressive enhancement for the queue: a "select all" checkbox. The page works without it.
(function () {
  "use strict";
  var form = document.getElementById("bulk-form");
  if (!form) return;
  var all = form.querySelector("input.select-all");
  if (!all) return;
  all.hidden = false;
  all.addEventListener("change", function () {
    form.querySelectorAll('input[name="ticket"]').forEach(function (box) { box.checked = all.checked; });
  });
})();
