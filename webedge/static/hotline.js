// The shell's own script, loaded by every page before the page's scripts:
// JSON POSTs carrying the session's CSRF token (meta csrf-token), with the
// edge's one error shape {"error", "status"} turned into an Error.
"use strict";
window.Hotline = {
  async post(path, body) {
    const meta = document.querySelector('meta[name="csrf-token"]');
    const resp = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": meta ? meta.content : "" },
      body: JSON.stringify(body || {}),
    });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(data.error || resp.statusText);
    return data;
  },
};
