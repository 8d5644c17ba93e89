// Draws the statistics page's charts from the JSON the page embeds (#chart-data).
(function () {
  const data = JSON.parse(document.getElementById("chart-data").textContent);
  const palette = {blue: "#2f6fed", green: "#1a7f4b", orange: "#d9822b", grey: "#8a94a6", red: "#c0392b"};
  const bytes = window.fanoutSize;  // static/js/byte_sizes.js: the pages' KiB, MiB, GiB
  const common = {responsive: true, animation: false, interaction: {mode: "index", intersect: false}};
  const drawn = [];

  drawn.push(new Chart(document.getElementById("chart-downloads"), {
    type: "bar",
    data: {
      labels: data.days,
      datasets: [
        {label: "Completed", data: data.completed, backgroundColor: palette.green},
        {label: ".torrent", data: data.torrent_fetches, backgroundColor: palette.blue},
        {label: "Magnet", data: data.magnet_fetches, backgroundColor: palette.orange},
        {label: "HTTP", data: data.http_requests, backgroundColor: palette.grey},
      ],
    },
    options: {...common, scales: {y: {beginAtZero: true, ticks: {precision: 0}}}},
  }));

  const swarm = document.getElementById("chart-swarm");
  if (swarm) {
    drawn.push(new Chart(swarm, {
      type: "line",
      data: {
        labels: data.swarm_at.map((at) => at.slice(0, 16).replace("T", " ")),
        datasets: [
          {label: "Seeders", data: data.seeders, borderColor: palette.green, backgroundColor: palette.green, pointRadius: 0},
          {label: "Leechers", data: data.leechers, borderColor: palette.orange, backgroundColor: palette.orange, pointRadius: 0},
        ],
      },
      options: {...common, scales: {y: {beginAtZero: true, ticks: {precision: 0}}}},
    }));
  }

  drawn.push(new Chart(document.getElementById("chart-bytes"), {
    type: "line",
    data: {
      labels: data.days,
      datasets: [
        {label: "Origin sent", data: data.origin_sent_bytes, borderColor: palette.red, backgroundColor: palette.red, pointRadius: 0},
        {label: "Delivered", data: data.delivered_bytes, borderColor: palette.blue, backgroundColor: palette.blue, pointRadius: 0, fill: false},
      ],
    },
    options: {...common, scales: {y: {beginAtZero: true, ticks: {callback: bytes}}},
              plugins: {tooltip: {callbacks: {label: (c) => c.dataset.label + ": " + bytes(c.parsed.y)}}}},
  }));
  document.body.dataset.chartsDrawn = String(drawn.length);
})();
