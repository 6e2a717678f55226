// A draft's browser upload, through the same REST endpoints as the `consortium` CLI:
// hash each file (SHA-256), declare the manifest, PUT the missing parts straight to S3 through
// presigned URLs, complete each upload (the registry hashes the stored bytes), then finalize.
(() => {
  "use strict";

  // The commands' copy button works on every page that has one.
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      const said = button.parentElement.querySelector(".copy-status");
      try {
        await navigator.clipboard.writeText(source.textContent);
        if (said) said.textContent = "Copied.";
      } catch {
        const range = document.createRange(); // no clipboard access: select it for Ctrl-C
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        if (said) said.textContent = "Selected: press Ctrl-C (⌘-C) to copy.";
      }
    });
  }

  const root = document.getElementById("uploader");
  if (!root) return;
  const api = root.dataset.api;
  const versionId = root.dataset.version;
  const maxFileBytes = Number(root.dataset.maxFileBytes);
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  const input = document.getElementById("upload-input");
  const startButton = document.getElementById("upload-start");
  const finalizeButton = document.getElementById("upload-finalize");
  const overall = document.getElementById("upload-overall");
  const overallText = document.getElementById("upload-overall-text");
  const statusLine = document.getElementById("upload-status");
  const errorLine = document.getElementById("upload-error");
  const tbody = document.querySelector("#upload-files tbody");
  const PARALLEL_PARTS = 3;

  // path → {path, size, sha256, status} as the registry last answered
  const manifest = new Map(JSON.parse(document.getElementById("upload-manifest").textContent).map((f) => [f.path, f]));

  const say = (text) => {
    statusLine.textContent = text;
  };
  const fail = (text) => {
    errorLine.textContent = text;
    errorLine.hidden = !text;
  };

  function formatBytes(n) {
    const units = ["bytes", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return i === 0 ? `${n} bytes` : `${n.toFixed(1)} ${units[i]}`;
  }

  function row(path) {
    let tr = [...tbody.rows].find((r) => r.dataset.path === path);
    if (!tr) {
      tbody.querySelector(".no-files")?.remove();
      tr = tbody.insertRow();
      tr.dataset.path = path;
      const name = document.createElement("code");
      name.textContent = path;
      tr.insertCell().append(name);
      tr.insertCell();
      const bar = document.createElement("progress");
      bar.max = 1;
      bar.value = 0;
      bar.setAttribute("aria-label", `${path} upload progress`);
      tr.insertCell().append(bar);
      tr.insertCell().className = "file-status";
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", `Remove ${path}`);
      tr.insertCell().append(remove);
    }
    return {
      size: (bytes) => {
        tr.cells[1].textContent = formatBytes(bytes);
      },
      progress: (done, total) => {
        const bar = tr.querySelector("progress");
        bar.max = Math.max(total, 1);
        bar.value = total ? done : 1;
      },
      status: (text, bad = false) => {
        tr.cells[3].textContent = text;
        tr.cells[3].classList.toggle("error", bad);
      },
    };
  }

  class Refused extends Error {}

  // One call of the registry's API, signed in by this page's session (CSRF header included).
  async function call(method, path, body) {
    let response;
    try {
      response = await fetch(api + path, {
        method,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (exc) {
      throw new Refused(`The registry did not answer (${exc.message}); check your connection and try again.`);
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const error = data && data.error;
      throw new Refused(error ? error.message : `The registry answered HTTP ${response.status}.`);
    }
    return data;
  }

  async function sha256(file) {
    const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  // Whether the storage host answers at all: an opaque no-cors request succeeds when it does.
  async function reachable(url) {
    try {
      await fetch(new URL(url).origin + "/", { mode: "no-cors", cache: "no-store" });
      return true;
    } catch {
      return false;
    }
  }

  function s3Problem(xhr) {
    const text = xhr.responseText || "";
    const code = /<Code>([^<]*)<\/Code>/.exec(text);
    const message = /<Message>([^<]*)<\/Message>/.exec(text);
    return [code && code[1], message && message[1]].filter(Boolean).join(": ");
  }

  // PUT one part to its presigned URL; resolves with the part's ETag.
  function putPart(url, blob, onProgress, label) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      xhr.upload.onprogress = (event) => onProgress(event.loaded);
      xhr.onload = () => {
        if (xhr.status < 200 || xhr.status >= 300) {
          const why = s3Problem(xhr);
          reject(new Refused(`The storage refused ${label}: HTTP ${xhr.status}${why ? ` (${why})` : ""}.`));
          return;
        }
        const etag = xhr.getResponseHeader("ETag");
        if (!etag) {
          reject(
            new Refused(
              `The storage took ${label} but hid its ETag from this page: its CORS rule must expose the ETag ` +
                "header (docs/storage-cors.md).",
            ),
          );
          return;
        }
        onProgress(blob.size);
        resolve(etag);
      };
      xhr.onerror = async () => {
        const origin = new URL(url).origin;
        if (await reachable(url)) {
          reject(
            new Refused(
              `The storage at ${origin} refused this page (CORS): its rule must allow the origin ` +
                `${window.location.origin} (S3_CORS_ORIGINS, docs/storage-cors.md).`,
            ),
          );
        } else {
          reject(new Refused(`Could not reach the storage at ${origin}: it is down or not reachable from here.`));
        }
      };
      xhr.send(blob);
    });
  }

  const progress = { total: 0, done: 0 };
  function showOverall() {
    overall.max = Math.max(progress.total, 1);
    overall.value = progress.total ? progress.done : 1;
    const percent = progress.total ? Math.floor((progress.done / progress.total) * 100) : 100;
    overallText.textContent = `${percent}%`;
  }

  // Send one upload's missing parts (the registry lists only the parts S3 lacks), then complete it.
  async function send(upload, file, rows) {
    const listed = await call("POST", `/uploads/${upload.id}/parts/`, {});
    const length = (n) => Math.min(upload.part_size, file.size - (n - 1) * upload.part_size);
    const missing = listed.parts;
    let done = file.size - missing.reduce((sum, p) => sum + length(p.number), 0);
    progress.done += done;
    const loaded = new Map();
    const update = () => {
      const now = done + [...loaded.values()].reduce((a, b) => a + b, 0);
      rows.forEach((r) => r.progress(now, file.size));
      showOverall();
    };
    const queue = [...missing];
    const worker = async () => {
      while (queue.length) {
        const part = queue.shift();
        const start = (part.number - 1) * upload.part_size;
        const blob = file.slice(start, start + length(part.number));
        const label = `part ${part.number} of ${file.name}`;
        let last = 0;
        await putPart(
          part.url,
          blob,
          (bytes) => {
            progress.done += bytes - last;
            last = bytes;
            loaded.set(part.number, bytes);
            update();
          },
          label,
        );
      }
    };
    rows.forEach((r) => r.status("uploading…"));
    update();
    await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, missing.length) }, worker));
    rows.forEach((r) => r.status("verifying…"));
    await call("POST", `/uploads/${upload.id}/complete/`);
    rows.forEach((r) => {
      r.progress(file.size, file.size);
      r.status("verified");
    });
  }

  function refreshFinalize() {
    const files = [...manifest.values()];
    finalizeButton.disabled = !files.length || files.some((f) => f.status !== "verified");
  }

  async function start() {
    fail("");
    const chosen = [...input.files];
    if (!chosen.length) {
      fail("Choose one or more files first.");
      return;
    }
    if (!window.crypto || !crypto.subtle) {
      fail("This browser can hash files only on a secure page (HTTPS or localhost); use the consortium CLI.");
      return;
    }
    const tooBig = chosen.filter((f) => f.size > maxFileBytes);
    if (tooBig.length) {
      fail(
        `${tooBig.map((f) => f.name).join(", ")}: larger than ${formatBytes(maxFileBytes)}, ` +
          "too big for the browser; push it with the consortium CLI (below).",
      );
      return;
    }
    const names = chosen.map((f) => f.name);
    const repeated = names.filter((n, i) => names.indexOf(n) !== i);
    if (repeated.length) {
      fail(`Two chosen files are named ${repeated[0]}: a version holds one file per path.`);
      return;
    }
    startButton.disabled = finalizeButton.disabled = input.disabled = true;
    progress.total = chosen.reduce((sum, f) => sum + f.size, 0);
    progress.done = 0;
    showOverall();
    try {
      const entries = [];
      for (const file of chosen) {
        const r = row(file.name);
        r.size(file.size);
        r.progress(0, file.size);
        r.status("hashing…");
        say(`Hashing ${file.name}…`);
        entries.push({ path: file.name, size: file.size, sha256: await sha256(file) });
        r.status("hashed");
      }
      say("Declaring the files…");
      const kept = [...manifest.values()].filter((f) => !names.includes(f.path));
      const declared = await call("POST", `/versions/${versionId}/files/`, {
        files: [...kept, ...entries].map(({ path, size, sha256: digest }) => ({ path, size, sha256: digest })),
      });
      manifest.clear();
      for (const f of declared) manifest.set(f.path, f);
      for (const r of tbody.querySelectorAll("tr[data-path]")) {
        if (!manifest.has(r.dataset.path)) r.remove();
      }
      const byUpload = new Map();
      for (const file of chosen) {
        const entry = manifest.get(file.name);
        const r = row(file.name);
        if (entry.status === "verified") {
          r.progress(file.size, file.size);
          r.status("already stored: skipped");
          progress.done += file.size;
        } else {
          const group = byUpload.get(entry.upload.id) || { upload: entry.upload, file, rows: [] };
          group.rows.push(r);
          byUpload.set(entry.upload.id, group);
        }
      }
      showOverall();
      for (const { upload, file, rows } of byUpload.values()) {
        say(`Uploading ${file.name}…`);
        try {
          await send(upload, file, rows);
        } catch (exc) {
          rows.forEach((r) => r.status("failed", true));
          throw exc;
        }
        for (const f of manifest.values()) {
          if (f.sha256 === manifest.get(file.name).sha256) f.status = "verified";
        }
      }
      progress.done = progress.total;
      showOverall();
      input.value = "";
      const waiting = [...manifest.values()].filter((f) => f.status !== "verified").map((f) => f.path);
      say(
        waiting.length
          ? `Uploaded. Still missing: ${waiting.join(", ")}.`
          : "All files are uploaded and verified. Finalize to submit the version for checks.",
      );
    } catch (exc) {
      fail(exc instanceof Refused ? exc.message : `Upload stopped: ${exc.message}`);
      say("");
    } finally {
      startButton.disabled = input.disabled = false;
      refreshFinalize();
    }
  }

  async function finalize() {
    fail("");
    startButton.disabled = finalizeButton.disabled = input.disabled = true;
    say("Finalizing…");
    try {
      const version = await call("POST", `/versions/${versionId}/finalize/`);
      const link = document.createElement("a");
      link.href = root.dataset.versionUrl;
      link.textContent = "Follow its checks on the version page";
      statusLine.replaceChildren(`Finalized: version ${version.number} is ${version.state}; its checks are queued. `, link);
      document.querySelectorAll(".state").forEach((badge) => {
        badge.textContent = version.state;
        badge.className = `state state-${version.state}`;
      });
    } catch (exc) {
      fail(exc instanceof Refused ? exc.message : `Finalizing failed: ${exc.message}`);
      say("");
      startButton.disabled = input.disabled = false;
      refreshFinalize();
    }
  }

  // Take a file out of the draft's manifest (its bytes stay stored for the org while in use elsewhere).
  async function remove(tr) {
    fail("");
    const path = tr.dataset.path;
    if (!manifest.has(path)) {
      tr.remove(); // chosen but never declared
      return;
    }
    const rest = [...manifest.values()].filter((f) => f.path !== path);
    if (!rest.length) {
      fail(`${path} is the draft's only file: add another before removing it, or delete the draft.`);
      return;
    }
    startButton.disabled = finalizeButton.disabled = true;
    try {
      const declared = await call("POST", `/versions/${versionId}/files/`, {
        files: rest.map(({ path: p, size, sha256: digest }) => ({ path: p, size, sha256: digest })),
      });
      manifest.clear();
      for (const f of declared) manifest.set(f.path, f);
      tr.remove();
      say(`Removed ${path} from the draft.`);
    } catch (exc) {
      fail(exc instanceof Refused ? exc.message : `Removing ${path} failed: ${exc.message}`);
    } finally {
      startButton.disabled = false;
      refreshFinalize();
    }
  }

  tbody.addEventListener("click", (event) => {
    const button = event.target.closest("button.remove");
    if (button && !startButton.disabled) remove(button.closest("tr"));
  });
  startButton.addEventListener("click", start);
  finalizeButton.addEventListener("click", finalize);
})();
