// The publish page: declare the release's files, send each with tus, then ask for the build.
// Without JavaScript the form posts the files in one multipart request instead.

// Only a private release has an audience: its choices are offered once Private is chosen,
// and disabled otherwise, so that the form never sends them for a public release.
(function () {
  "use strict";
  const visibility = document.querySelector("#publish-form select[name=visibility]");
  const audience = document.getElementById("field-audience");
  if (!visibility || !audience) return;
  function update() {
    const isPrivate = visibility.value === "private";
    audience.hidden = !isPrivate;
    audience.disabled = !isPrivate;
  }
  visibility.addEventListener("change", update);
  update();
})();

(function () {
  "use strict";
  const form = document.getElementById("publish-form");
  if (!form || !window.tus || !tus.isSupported) return;

  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const chunkSize = Number(form.dataset.chunkSize) || Infinity;
  const dropzone = document.getElementById("dropzone");
  const list = document.getElementById("upload-list");
  const rows = document.getElementById("upload-rows");
  const totalBar = document.getElementById("total-bar");
  const totalLabel = document.getElementById("total-label");
  const pauseButton = document.getElementById("pause-button");
  const publishButton = document.getElementById("publish-button");
  const errorBox = document.getElementById("publish-error");
  const plainFiles = document.getElementById("plain-files");

  // path -> {file, size, sent, row, upload}
  const chosen = new Map();
  let running = false;
  let paused = false;
  let release = null;

  plainFiles.hidden = true;
  dropzone.hidden = false;

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  const human = window.fanoutSize;  // static/js/byte_sizes.js: KiB, MiB, GiB, as the pages show them

  // Until the upload starts, a chosen file can be taken out again.
  function setRunning(flag) {
    running = flag;
    publishButton.disabled = flag;
    list.classList.toggle("upload-running", flag);
    rows.querySelectorAll("button.remove-file").forEach(function (button) { button.disabled = flag; });
  }

  function addFile(file, path) {
    path = path.replace(/^\/+/, "");
    if (running) return;
    if (chosen.has(path)) { showError(path + " is chosen twice."); return; }
    const row = document.createElement("tr");
    row.dataset.path = path;
    row.innerHTML = "<td class='path' dir='auto'></td><td class='num' data-label='Size'></td>" +
      "<td class='progress-cell'><progress max='100' value='0'></progress> <span class='percent'>0 %</span></td>" +
      "<td class='actions'><button type='button' class='button button-small button-secondary remove-file' " +
      "data-testid='remove-file'>Remove</button></td>";
    const cell = row.querySelector(".path");
    cell.textContent = path;
    cell.title = path;
    const size = row.querySelector(".num");
    size.textContent = human(file.size);
    size.title = file.size.toLocaleString("en-US") + " bytes";
    row.querySelector(".remove-file").addEventListener("click", function () { removeFile(path); });
    rows.appendChild(row);
    chosen.set(path, {file: file, size: file.size, sent: 0, row: row, upload: null});
    list.hidden = false;
    scheduleTotal();
  }

  function removeFile(path) {
    const entry = chosen.get(path);
    if (running || !entry) return;
    entry.row.remove();
    chosen.delete(path);
    list.hidden = chosen.size === 0;
    showError("");
    scheduleTotal();
  }

  // Thousands of files may be chosen at once: the total is drawn once per frame, not once per file.
  let totalScheduled = false;
  function scheduleTotal() {
    if (totalScheduled) return;
    totalScheduled = true;
    window.requestAnimationFrame(function () { totalScheduled = false; updateTotal(); });
  }

  function updateRow(entry) {
    const percent = entry.size ? Math.floor(100 * entry.sent / entry.size) : 100;
    entry.row.querySelector("progress").value = percent;
    entry.row.querySelector(".percent").textContent = percent + " %";
  }

  function updateTotal() {
    let size = 0;
    let sent = 0;
    chosen.forEach(function (entry) { size += entry.size; sent += entry.sent; });
    const percent = size ? Math.floor(100 * sent / size) : 0;
    totalBar.value = percent;
    totalLabel.textContent = percent + " % of " + human(size) +
      " (" + chosen.size.toLocaleString("en-US") + " file" + (chosen.size === 1 ? "" : "s") + ")";
  }

  // Folders dropped on the page: walk them, keeping each file's path inside the folder.
  function walkEntry(entry, prefix) {
    return new Promise(function (resolve) {
      if (entry.isFile) {
        entry.file(function (file) { addFile(file, prefix + file.name); resolve(); }, function () { resolve(); });
      } else if (entry.isDirectory) {
        const reader = entry.createReader();
        const children = [];
        (function readMore() {
          reader.readEntries(function (batch) {
            if (!batch.length) {
              Promise.all(children.map(function (c) { return walkEntry(c, prefix + entry.name + "/"); })).then(resolve);
              return;
            }
            children.push.apply(children, batch);
            readMore();
          }, function () { resolve(); });
        })();
      } else {
        resolve();
      }
    });
  }

  dropzone.addEventListener("dragover", function (event) { event.preventDefault(); dropzone.classList.add("dropzone-over"); });
  dropzone.addEventListener("dragleave", function () { dropzone.classList.remove("dropzone-over"); });
  dropzone.addEventListener("drop", function (event) {
    event.preventDefault();
    dropzone.classList.remove("dropzone-over");
    const items = Array.from(event.dataTransfer.items || []);
    const entries = items.map(function (item) { return item.webkitGetAsEntry && item.webkitGetAsEntry(); });
    if (entries.length && entries.every(Boolean)) {
      entries.forEach(function (entry) { walkEntry(entry, ""); });
    } else {
      Array.from(event.dataTransfer.files).forEach(function (file) { addFile(file, file.name); });
    }
  });
  document.getElementById("pick-files").addEventListener("change", function (event) {
    Array.from(event.target.files).forEach(function (file) { addFile(file, file.name); });
  });
  document.getElementById("pick-folder").addEventListener("change", function (event) {
    Array.from(event.target.files).forEach(function (file) { addFile(file, file.webkitRelativePath || file.name); });
  });

  async function declare() {
    const body = new FormData(form);
    body.delete("files");
    const manifest = [];
    chosen.forEach(function (entry, path) { manifest.push({path: path, size: entry.size}); });
    body.set("manifest", JSON.stringify(manifest));
    const response = await fetch(form.dataset.startUrl, {method: "POST", body: body, headers: {"X-CSRFToken": csrf}});
    const answer = await response.json().catch(function () { return {error: "The server answered " + response.status + "."}; });
    if (!response.ok) throw new Error(answer.error || ("The server answered " + response.status + "."));
    return answer;
  }

  function send(path, entry) {
    return new Promise(function (resolve, reject) {
      const upload = new tus.Upload(entry.file, {
        endpoint: release.upload_url,
        chunkSize: chunkSize,
        // A dropped connection is retried with these pauses; each retry resumes from the server's offset.
        retryDelays: [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000],
        removeFingerprintOnSuccess: true,
        metadata: {release: String(release.release_id), relativePath: path, filename: entry.file.name},
        headers: {"X-CSRFToken": csrf},
        // One stored URL per release and path: a reloaded page finds it and resumes there.
        fingerprint: function (file) {
          return Promise.resolve(["fanout", release.release_id, path, file.size, file.lastModified].join(":"));
        },
        onProgress: function (sent) { entry.sent = sent; updateRow(entry); scheduleTotal(); },
        onSuccess: function () { entry.sent = entry.size; updateRow(entry); updateTotal(); resolve(); },
        onError: function (error) {
          const text = error.originalResponse ? error.originalResponse.getBody() : error.message;
          reject(new Error(path + ": " + text));
        },
      });
      entry.upload = upload;
      upload.findPreviousUploads().then(function (previous) {
        if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
        if (!paused) upload.start();
      });
    });
  }

  async function run() {
    showError("");
    if (!chosen.size) { showError("Choose at least one file."); return; }
    setRunning(true);
    try {
      release = await declare();
      const waiting = [];
      chosen.forEach(function (entry, path) {
        const state = release.files[path];
        if (state && state.complete) {
          entry.sent = entry.size; updateRow(entry); updateTotal();
        } else {
          waiting.push([path, entry]);
        }
      });
      // Two files at a time: enough to fill the link, few enough to finish files early.
      let next = 0;
      async function worker() {
        while (next < waiting.length) {
          const [path, entry] = waiting[next++];
          await send(path, entry);
        }
      }
      await Promise.all([worker(), worker()]);
      const response = await fetch(release.complete_url, {method: "POST", headers: {"X-CSRFToken": csrf}});
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error);
      window.location.assign(answer.release_url);
    } catch (error) {
      showError(error.message);
      setRunning(false);
    }
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); run(); });

  pauseButton.addEventListener("click", function () {
    paused = !paused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    chosen.forEach(function (entry) {
      if (!entry.upload || entry.sent === entry.size) return;
      if (paused) entry.upload.abort(); else entry.upload.start();
    });
  });
})();
