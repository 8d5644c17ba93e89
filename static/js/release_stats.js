// Draws the statistics page's charts from the JSON the page embeds (#chart-data).
(function () {
  const data = JSON.parse(document.getElementById("chart-data").textContent);
  const palette = {blue: "#2f6fed", green: "#1a7f4b", orange: "#d9822b", grey: "#8a94a6", red: "#c0392b"};
  const bytes = window.fanoutSize;  // static/js/byte_sizes.js: the pages' KiB, MiB, GiB
  const common = {responsive: true, animation: false, interaction: {mode: "index", intersect: false}};
  const UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  const drawn = [];

  // A byte axis in one binary unit, picked from its top, with steps of 1, 2 or 5 (times a power
  // of ten) of that unit: "0 MiB, 0.5 MiB, 1 MiB, 1.5 MiB", never "1 B, 1 B, 1 B".
  function byteAxis(values) {
    const top = Math.max(0, ...values);
    let exponent = 0;
    while (exponent < UNITS.length - 1 && top >= Math.pow(1024, exponent + 1)) exponent += 1;
    const unit = Math.pow(1024, exponent);
    const inUnits = Math.max(top / unit, 1);
    const rough = inUnits / 5;
    const power = Math.pow(10, Math.floor(Math.log10(rough)));
    let step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough);
    if (exponent === 0) step = Math.max(1, Math.round(step));  // no fraction of a byte
    const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    const ticks = [];
    for (let i = 0; i * step < inUnits + step * 1e-9; i += 1) ticks.push(i * step);
    if (ticks[ticks.length - 1] < inUnits) ticks.push(ticks.length * step);
    return {
      beginAtZero: true,
      min: 0,
      max: ticks[ticks.length - 1] * unit,
      afterBuildTicks: (scale) => { scale.ticks = ticks.map((t) => ({value: t * unit})); },
      ticks: {callback: (value) => exponent === 0 ? bytes(value) : (value / unit).toFixed(decimals) + "\u00a0" + UNITS[exponent]},
    };
  }

  drawn.push(new Chart(document.getElementById("chart-downloads"), {
    type: "bar",
    data: {
      labels: data.days,
      datasets: [
        {label: "Completed", data: data.completed, backgroundColor: palette.green, stack: "downloads"},
        {label: "HTTP (whole releases)", data: data.http_downloads, backgroundColor: palette.grey, stack: "downloads"},
        {label: ".torrent", data: data.torrent_fetches, backgroundColor: palette.blue, stack: "torrent"},
        {label: "Magnet", data: data.magnet_fetches, backgroundColor: palette.orange, stack: "magnet"},
      ],
    },
    options: {...common, scales: {y: {beginAtZero: true, stacked: true, ticks: {precision: 1}}, x: {stacked: true}}},
  }));

  const swarm = document.getElementById("chart-swarm");
  if (swarm) {
    const dots = data.swarm_at.length < 50 ? 3 : 0;  // a few samples are points, many a line
    drawn.push(new Chart(swarm, {
      type: "line",
      data: {
        labels: data.swarm_at.map((at) => at.slice(0, 16).replace("T", " ")),
        datasets: [
          {label: "Seeders", data: data.seeders, borderColor: palette.green, backgroundColor: palette.green, pointRadius: dots},
          {label: "Leechers", data: data.leechers, borderColor: palette.orange, backgroundColor: palette.orange, pointRadius: dots},
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
        {label: "Origin sent", data: data.origin_sent_bytes, borderColor: palette.red, backgroundColor: palette.red, pointRadius: 2},
        {label: "Delivered", data: data.delivered_bytes, borderColor: palette.blue, backgroundColor: palette.blue, pointRadius: 2, fill: false},
      ],
    },
    options: {...common, scales: {y: byteAxis([...data.origin_sent_bytes, ...data.delivered_bytes])},
              plugins: {tooltip: {callbacks: {label: (c) => c.dataset.label + ": " + bytes(c.parsed.y)}}}},
  }));
  document.body.dataset.chartsDrawn = String(drawn.length);
})();
