// Draws the KPI charts with the vendored Chart.js; data comes from json_script elements (no inline script).
(function () {
  "use strict";
  function draw() {
    if (typeof window.Chart === "undefined") return;
    document.querySelectorAll("canvas[data-series-id]").forEach(function (canvas) {
      var source = document.getElementById(canvas.dataset.seriesId);
      if (!source) return;
      var chart = JSON.parse(source.textContent);
      var datasets = Object.keys(chart.series).map(function (name) {
        return { label: name, data: chart.series[name], spanGaps: true, tension: 0.2 };
      });
      new window.Chart(canvas, {
        type: "line",
        data: { labels: chart.days, datasets: datasets },
        options: {
          animation: false,
          responsive: true,
          scales: { y: { beginAtZero: true, suggestedMax: chart.unit === "ratio" ? 1 : undefined } },
        },
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
