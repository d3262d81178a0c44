// /widget/demo/: mounts the support widget for the chosen demo customer. The token callback asks the demo
// token endpoint, standing in for TourBrain's backend, which would sign the signed-in user's token.
(function () {
  "use strict";
  var config = document.getElementById("widget-demo");
  var select = document.getElementById("demo-customer");
  if (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  }
  if (!config || !config.dataset.customer || !window.TourBrainSupport) return;

  async function getToken() {
    var url = config.dataset.tokenUrl + "?customer=" + encodeURIComponent(config.dataset.customer);
    var response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error("demo token refused: " + response.status);
    return (await response.json()).token;
  }

  window.TourBrainSupport.init({ apiBase: config.dataset.apiBase, getToken: getToken });
})();
