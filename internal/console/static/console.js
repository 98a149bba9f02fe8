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
    const sync = () => { offset.disabled = !reset.querySelector("input[value=offset]").checked; };
    for (const r of reset.querySelectorAll("input[name=to]")) r.addEventListener("change", sync);
    sync();
  }
});
