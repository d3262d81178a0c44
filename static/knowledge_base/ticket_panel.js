// Ticket page: "Insert link" puts a help article's title and URL into the reply box at the cursor.
(function () {
  "use strict";
  document.querySelectorAll(".kb-insert-link").forEach(function (button) {
    button.addEventListener("click", function () {
      var box = document.getElementById(button.getAttribute("data-target"));
      if (!box) return;
      var text = button.getAttribute("data-title") + ": " + button.getAttribute("data-url");
      var start = box.selectionStart || 0;
      var end = box.selectionEnd || 0;
      var before = box.value.slice(0, start);
      var spacer = before && !/\s$/.test(before) ? "\n" : "";
      box.value = before + spacer + text + box.value.slice(end);
      var caret = (before + spacer + text).length;
      box.focus();
      box.setSelectionRange(caret, caret);
    });
  });
})();
