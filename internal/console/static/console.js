// Optional enhancements; every page works without this script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Show record timestamps in the reader's time zone too.
  for (const t of document.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) t.title = d.toLocaleString();
  }
  // Enable the offset field of the reset form only when "offset" is chosen.
  const reset = document.getElementById("reset-form");
  if (reset) {
    const offset = reset.querySelector("input[name=offset]");
    const time = reset.querySelector("input[name=time]");
    const sync = () => {
      offset.disabled = !reset.querySelector("input[value=offset]").checked;
      if (time) time.disabled = !reset.querySelector("input[value=time]").checked;
    };
    for (const r of reset.querySelectorAll("input[name=to]")) r.addEventListener("change", sync);
    sync();
  }
  // Live tail: poll for new messages while the page is shown. A poll is
  // one short request; the loop stops for good on an error or when the
  // page is left, and pauses while it is hidden.
  const tail = document.getElementById("tail-status");
  if (tail) {
    const list = document.getElementById("messages");
    const keep = Number(tail.dataset.keep) || 500;
    let cursor = tail.dataset.cursor, timer = 0, ctl = null, stopped = false;
    const schedule = () => { if (!stopped && !document.hidden) timer = setTimeout(poll, 2000); };
    const stop = (why) => {
      stopped = true; clearTimeout(timer); if (ctl) ctl.abort();
      if (why) { tail.textContent = why; tail.className = "error"; }
    };
    async function poll() {
      ctl = new AbortController();
      try {
        const r = await fetch(tail.dataset.url + "&cursor=" + encodeURIComponent(cursor), { signal: ctl.signal, cache: "no-store" });
        const body = await r.text();
        if (!r.ok) { stop("Live tail stopped: " + body.trim()); return; }
        cursor = r.headers.get("X-Tail-Cursor") || cursor;
        if (body.trim() !== "") {
          list.insertAdjacentHTML("afterbegin", body);
          const empty = document.getElementById("tail-empty");
          if (empty) empty.remove();
          while (list.children.length > keep) list.lastElementChild.remove();
        }
      } catch (e) {
        if (e.name !== "AbortError") stop("Live tail stopped: " + e.message);
        return;
      }
      schedule();
    }
    document.addEventListener("visibilitychange", () => {
      clearTimeout(timer);
      if (!document.hidden) schedule();
    });
    window.addEventListener("pagehide", () => stop(""));
    schedule();
  }
});
