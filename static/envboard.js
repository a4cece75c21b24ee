// envboard's few lines of behaviour on top of htmx (no inline scripts: the CSP forbids them).
(function () {
  "use strict";

  // Polling pauses while the tab is hidden, and catches up as soon as it is shown again.
  document.addEventListener("htmx:confirm", function (event) {
    var element = event.detail.elt;
    if (document.hidden && element && element.hasAttribute("data-poll")) {
      event.preventDefault();
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && window.htmx) {
      document.querySelectorAll("[data-poll]").forEach(function (element) {
        window.htmx.trigger(element, "every");
      });
    }
  });

  // Forms in cached, shared fragments (overview rows) carry no CSRF token: the page's
  // <meta name="csrf-token"> is the one place it lives, out of reach of rendered user text.
  document.addEventListener("submit", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (!meta) return;
    event.target.querySelectorAll("input[data-csrf-from-page]").forEach(function (input) {
      input.value = meta.getAttribute("content");
    });
  }, true);

  // A live log follows new lines unless the reader has scrolled up to read.
  function follow(log) {
    var nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.dataset.follow = nearBottom ? "1" : "0";
  }
  document.addEventListener("scroll", function (event) {
    if (event.target.classList && event.target.classList.contains("log")) follow(event.target);
  }, true);
  document.addEventListener("htmx:beforeSwap", function (event) {
    var log = document.querySelector(".log");
    if (log) follow(log);
  });
  document.addEventListener("htmx:afterSettle", function () {
    var log = document.querySelector(".log");
    if (log && log.dataset.follow !== "0") log.scrollTop = log.scrollHeight;
  });
  document.addEventListener("DOMContentLoaded", function () {
    var log = document.querySelector(".log");
    if (log) log.scrollTop = log.scrollHeight;
  });
})();
