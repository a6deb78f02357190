// ghsync: keeps the status banner and health cards fresh while a sync is active, and
// ticks countdowns and elapsed times. Plain JS, no build step; pages work without it.
(function () {
  "use strict";

  var POLL_MS = 2500;
  var timer = null;

  function fmtSpan(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return seconds + " s";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min " + (seconds % 60) + " s";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = (Date.parse(el.getAttribute("data-countdown")) - now) / 1000;
      el.textContent = left > 0 ? "in " + fmtSpan(left) : "any moment now";
    });
    document.querySelectorAll("[data-elapsed-since]").forEach(function (el) {
      var since = Date.parse(el.getAttribute("data-elapsed-since"));
      if (!isNaN(since)) el.textContent = fmtSpan((now - since) / 1000);
    });
  }

  function isActive() {
    return document.querySelector("[data-sync-active]") !== null;
  }

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    fresh.querySelectorAll("[data-live-region][id]").forEach(function (region) {
      var current = document.getElementById(region.id);
      if (current) current.replaceWith(document.importNode(region, true));
    });
    tick();
  }

  function poll() {
    timer = null;
    var url = document.body.getAttribute("data-live-url");
    if (!url) return;
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (!response.ok || response.redirected) throw new Error("status " + response.status);
        return response.text();
      })
      .then(function (html) {
        swap(html);
        schedule();
      })
      .catch(function () {
        // Signed out or the server is restarting: try again later, quietly.
        timer = window.setTimeout(poll, POLL_MS * 4);
      });
  }

  function schedule() {
    if (timer === null && isActive()) timer = window.setTimeout(poll, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
    schedule();
  });
})();
