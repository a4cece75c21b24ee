// envboard's few lines of behaviour on top of htmx (no inline scripts: the CSP forbids them).
(function () {
  "use strict";

  // -- polling: paused while the tab is hidden, caught up as soon as it is shown again -----------
  // Every polling element also listens to "envboard:catchup" (hx-trigger="every 2s, envboard:catchup").
  document.addEventListener("htmx:confirm", function (event) {
    var element = event.detail.elt;
    if (document.hidden && element && element.hasAttribute("data-poll")) {
      event.preventDefault();
    }
  });
  document.addEventListener("visibilitychange", function () {
    showLive();
    if (!document.hidden && window.htmx) {
      document.querySelectorAll("[data-poll]").forEach(function (element) {
        window.htmx.trigger(element, "envboard:catchup");
      });
      formatTimes(document);
    }
  });

  // -- forms in cached, shared fragments (overview rows) carry no CSRF token: the page's
  // <meta name="csrf-token"> is the one place it lives, out of reach of rendered user text.
  document.addEventListener("submit", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (!meta) return;
    event.target.querySelectorAll("input[data-csrf-from-page]").forEach(function (input) {
      input.value = meta.getAttribute("content");
    });
  }, true);

  // -- the "live" badge: live, paused (tab hidden), offline (server unreachable), or stopped --------
  var offline = false;
  function showLive() {
    var badge = document.querySelector("[data-live]");
    if (!badge) return;
    var state = "live", text = "Live: updates by itself";
    if (!document.querySelector("[data-poll]")) {
      state = "stopped"; text = "Up to date: nothing more to follow";
    } else if (document.hidden) {
      state = "paused"; text = "Paused while this tab is hidden";
    } else if (offline) {
      state = "offline"; text = "Reconnecting: the server does not answer";
    }
    badge.dataset.state = state;
    var label = badge.querySelector(".live-text");
    if (label.textContent !== text) label.textContent = text;
  }
  document.addEventListener("htmx:sendError", function () { offline = true; showLive(); });

  // -- an action the server refused (403, 404, 500...): htmx swaps nothing for it, so its
  // message goes where the page says what just happened, instead of the click doing nothing.
  // Polls are left alone: the next one tries again, and the live badge tells of a lost server.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr, flashes = document.getElementById("flashes");
    var verb = event.detail.requestConfig && event.detail.requestConfig.verb;
    if (!xhr || !flashes || verb === "get") return;
    var text = "";
    try {
      text = new DOMParser().parseFromString(xhr.responseText || "", "text/html").body.textContent;
    } catch (error) { /* not HTML: the status line below says enough */ }
    text = (text || "").replace(/\s+/g, " ").trim().slice(0, 500);
    var box = document.createElement("p");
    box.className = "error-box flash";
    box.textContent = text || ("The server refused this (" + xhr.status + ").");
    flashes.replaceChildren(box);
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.xhr && event.detail.xhr.status) { offline = false; }
    showLive();
  });
  document.addEventListener("htmx:afterSwap", showLive);

  // -- times: the server writes <time datetime="ISO 8601">; the browser keeps "3 min ago" current ---
  function relative(date) {
    var seconds = Math.max(0, Math.floor((Date.now() - date.getTime()) / 1000));
    if (seconds < 60) return seconds + " s ago";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h ago";
    return Math.floor(seconds / 86400) + " d ago";
  }
  // "Exact times" shows each as its date, clock time and zone (the server's text, kept in the
  // title) instead; the choice is kept for the next pages.
  var exact = false;
  try { exact = window.localStorage.getItem("envboard:times") === "exact"; } catch (error) { /* none kept */ }
  function formatTimes(root) {
    (root || document).querySelectorAll("time[data-relative]").forEach(function (element) {
      var date = new Date(element.getAttribute("datetime"));
      if (isNaN(date.getTime())) return;
      var text = exact ? element.getAttribute("title") : relative(date);
      if (element.textContent !== text) element.textContent = text;  // untouched text keeps a selection
    });
  }
  setInterval(function () { if (!document.hidden) formatTimes(document); }, 1000);
  function showTimeChoice() {
    var toggle = document.getElementById("exact-times");
    if (!toggle) return;
    toggle.hidden = false;
    toggle.setAttribute("aria-pressed", exact ? "true" : "false");
  }
  document.addEventListener("click", function (event) {
    if (!event.target.closest || !event.target.closest("#exact-times")) return;
    exact = !exact;
    try { window.localStorage.setItem("envboard:times", exact ? "exact" : "relative"); } catch (error) { /* this page only */ }
    showTimeChoice();
    formatTimes(document);
  });
  document.addEventListener("htmx:load", function (event) { formatTimes(event.target); });

  // -- morphing swaps keep focus, scroll and selection; a <time> with the same moment is left alone -
  function keepTimes() {
    if (!window.Idiomorph) return;
    window.Idiomorph.defaults.callbacks.beforeNodeMorphed = function (oldNode, newNode) {
      if (oldNode.nodeName === "TIME" && newNode.nodeName === "TIME" &&
          oldNode.getAttribute("datetime") === newNode.getAttribute("datetime") &&
          oldNode.getAttribute("title") === newNode.getAttribute("title")) {
        return false;
      }
      return true;
    };
  }

  // -- controls that explain why they are disabled stay focusable (aria-disabled), but do nothing --
  document.addEventListener("click", function (event) {
    var control = event.target.closest && event.target.closest("[aria-disabled='true']");
    if (control) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // -- a live log follows new lines unless the reader has scrolled up to read ---------------------
  function follow(log) {
    var nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.dataset.follow = nearBottom ? "1" : "0";
  }
  document.addEventListener("scroll", function (event) {
    if (event.target.classList && event.target.classList.contains("log")) follow(event.target);
  }, true);
  document.addEventListener("htmx:beforeSwap", function (event) {
    var log = document.querySelector(".log");
    if (log && log.contains(event.detail.target)) follow(log);
  });

  // The page holds at most data-max-lines lines of a log (a 100 MB log must not take the browser
  // down): the oldest lines are dropped and a note at the top links to the full raw log.
  function newlines(text) {
    var count = 0, at = -1;
    while ((at = text.indexOf("\n", at + 1)) !== -1) count++;
    return count;
  }
  function capLog(log) {
    var limit = parseInt(log.dataset.maxLines || "5000", 10);
    var note = log.querySelector(".log-note");
    var walker = document.createTreeWalker(log, NodeFilter.SHOW_TEXT, {
      acceptNode: function (node) {
        return note && note.contains(node) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT;
      }
    });
    var nodes = [], total = 0, node;
    while ((node = walker.nextNode())) { nodes.push(node); total += newlines(node.nodeValue); }
    var excess = total - limit;
    if (excess <= 0) return;
    for (var i = 0; i < nodes.length && excess > 0; i++) {
      var text = nodes[i].nodeValue, count = newlines(text);
      if (count < excess) {
        nodes[i].nodeValue = "";
        excess -= count;
      } else {
        var cut = -1;
        for (var n = 0; n < excess; n++) cut = text.indexOf("\n", cut + 1);
        nodes[i].nodeValue = text.slice(cut + 1);
        excess = 0;
      }
    }
    log.querySelectorAll("span:empty").forEach(function (span) {
      if (!span.classList.contains("log-tail")) span.remove();  // emptied colour spans and chunks
    });
    log.normalize();
    if (!note) {
      note = document.createElement("span");
      note.className = "log-note";
      log.insertBefore(note, log.firstChild);
    }
    var raw = log.dataset.rawUrl;
    note.textContent = "[envboard] earlier lines are not shown here: this page keeps the last " +
      limit.toLocaleString("en") + " lines. ";
    if (raw) {
      var link = document.createElement("a");
      link.href = raw;
      link.textContent = "Download the full log";
      note.appendChild(link);
    }
    note.appendChild(document.createTextNode("\n"));
  }

  // htmx fires afterSettle once per swapped element (thousands for a log chunk): tidy up once.
  var logTidy = null;
  document.addEventListener("htmx:afterSettle", function () {
    if (logTidy !== null) return;
    logTidy = setTimeout(function () {
      logTidy = null;
      var log = document.querySelector(".log");
      if (!log) return;
      capLog(log);
      if (log.dataset.follow !== "0") log.scrollTop = log.scrollHeight;
    }, 0);
  });
  // -- a table wider than its box (the Versions matrix on a phone) says how many columns are off
  // screen, on which side, and how many of those hold a version that differs ---------------------
  function plural(count, word) { return count + " " + word + (count === 1 ? "" : "s"); }
  function scrollHints() {
    document.querySelectorAll("[data-scroll-hint]").forEach(function (hint) {
      var wrap = document.getElementById(hint.dataset.scrollHint);
      var header = wrap && wrap.querySelector("thead tr");
      if (!header) return;
      var box = wrap.getBoundingClientRect(), cells = header.children;
      // a sticky first column (the Versions matrix's names) stays in view: count the others
      var name = wrap.querySelector("tbody tr > :first-child");
      var sticky = name && getComputedStyle(name).position === "sticky" ? 1 : 0;
      var left = box.left + (sticky ? cells[0].getBoundingClientRect().width : 0);
      var before = 0, after = [], differing = 0;
      for (var i = sticky; i < cells.length; i++) {
        var cell = cells[i].getBoundingClientRect();
        if (cell.right > box.right + 1) after.push(i);
        else if (cell.left < left - 1) before++;
      }
      after.forEach(function (index) {
        if (wrap.querySelector("tbody td.version-odd:nth-child(" + (index + 1) + ")")) differing++;
      });
      var text = "";
      if (after.length) {
        text = plural(after.length, "more column") + " →";
        if (differing) text += " (" + differing + " with a version that differs)";
      } else if (before) {
        text = "← " + plural(before, "more column");
      }
      if (hint.textContent !== text) hint.textContent = text;
      hint.hidden = !text;
    });
  }
  document.addEventListener("scroll", function (event) {
    if (event.target.classList && event.target.classList.contains("table-wrap")) scrollHints();
  }, true);
  window.addEventListener("resize", scrollHints);
  document.addEventListener("htmx:afterSettle", scrollHints);

  document.addEventListener("DOMContentLoaded", function () {
    scrollHints();
    showTimeChoice();
    keepTimes();
    formatTimes(document);
    showLive();
    var log = document.querySelector(".log");
    if (log) { capLog(log); log.scrollTop = log.scrollHeight; }
  });
})();
