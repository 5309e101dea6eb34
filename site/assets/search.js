// Client-side search. The index (search-index.js, written by `workbook build`) is loaded with a
// <script> tag the first time the search box is used: fetch() of a local file fails on file://.
(function () {
  "use strict";
  var input = document.getElementById("search-input");
  var list = document.getElementById("search-results");
  if (!input || !list) return;
  var root = input.getAttribute("data-root") || "";
  var state = "idle"; // idle -> loading -> ready | failed

  function load() {
    if (state !== "idle") return;
    state = "loading";
    var script = document.createElement("script");
    script.src = input.getAttribute("data-index");
    script.onload = function () { state = "ready"; update(); };
    script.onerror = function () { state = "failed"; update(); };
    document.head.appendChild(script);
  }

  function terms(query) {
    return query.toLowerCase().split(/\s+/).filter(function (t) { return t.length > 0; });
  }

  function search(query) {
    var index = window.WORKBOOK_SEARCH_INDEX;
    var words = terms(query);
    var hits = [];
    if (!index || words.length === 0) return hits;
    index.pages.forEach(function (page) {
      var title = page.t.toLowerCase();
      var titleHit = words.every(function (w) { return title.indexOf(w) >= 0; });
      var found = false;
      page.s.forEach(function (section) {
        var heading = section.h.toLowerCase();
        var text = section.x.toLowerCase();
        var score = titleHit ? 2 : 0;
        // Every word must be in the section (its heading or text) or in the page title.
        for (var i = 0; i < words.length; i++) {
          var w = words[i];
          var inHeading = heading.indexOf(w) >= 0, inText = text.indexOf(w) >= 0;
          if (!inHeading && !inText && title.indexOf(w) < 0) return;
          if (!inHeading && !inText && titleHit) return; // title-only matches: one hit per page, below
          score += (inHeading ? 4 : 0) + (inText ? 1 : 0);
        }
        found = true;
        hits.push({ page: page, section: section, score: score });
      });
      if (titleHit && !found && page.s.length > 0) hits.push({ page: page, section: page.s[0], score: 3 });
    });
    hits.sort(function (a, b) { return b.score - a.score; });
    return hits.slice(0, 20);
  }

  function snippet(text, words) {
    var lower = text.toLowerCase();
    var at = -1;
    for (var i = 0; i < words.length && at < 0; i++) at = lower.indexOf(words[i]);
    var start = Math.max(0, at - 60);
    var piece = (start > 0 ? "…" : "") + text.substr(start, 180) + (start + 180 < text.length ? "…" : "");
    return piece;
  }

  function highlight(element, text, words) {
    // Builds text nodes and <mark>s: nothing from the index is parsed as HTML.
    var lower = text.toLowerCase();
    var pos = 0;
    while (pos < text.length) {
      var next = -1, len = 0;
      words.forEach(function (w) {
        var at = lower.indexOf(w, pos);
        if (at >= 0 && (next < 0 || at < next)) { next = at; len = w.length; }
      });
      if (next < 0) { element.appendChild(document.createTextNode(text.slice(pos))); break; }
      element.appendChild(document.createTextNode(text.slice(pos, next)));
      var mark = document.createElement("mark");
      mark.textContent = text.substr(next, len);
      element.appendChild(mark);
      pos = next + len;
    }
  }

  function update() {
    var query = input.value.trim();
    list.textContent = "";
    if (query === "") { list.hidden = true; return; }
    list.hidden = false;
    if (state !== "ready") {
      var li = document.createElement("li");
      li.className = "empty";
      li.textContent = state === "failed" ? "The search index could not be loaded." : "Loading…";
      list.appendChild(li);
      return;
    }
    var words = terms(query);
    var hits = search(query);
    if (hits.length === 0) {
      var none = document.createElement("li");
      none.className = "empty";
      none.textContent = "No results.";
      list.appendChild(none);
      return;
    }
    hits.forEach(function (hit) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = root + hit.page.u + (hit.section.a ? "#" + hit.section.a : "");
      var title = document.createElement("span");
      title.className = "r-title";
      title.textContent = hit.page.t + (hit.section.h ? " › " + hit.section.h : "");
      var text = document.createElement("span");
      text.className = "r-text";
      highlight(text, snippet(hit.section.x, words), words);
      a.appendChild(title);
      a.appendChild(text);
      li.appendChild(a);
      list.appendChild(li);
    });
  }

  // `page.html?q=words` opens with that search (links from elsewhere, tests).
  var match = /[?&]q=([^&]*)/.exec(window.location.search);
  if (match) {
    input.value = decodeURIComponent(match[1].replace(/\+/g, " "));
    load();
    update();
  }

  input.addEventListener("focus", load);
  input.addEventListener("input", function () { load(); update(); });
  input.addEventListener("keydown", function (event) {
    var links = list.querySelectorAll("a");
    if (event.key === "Escape") { input.value = ""; update(); input.blur(); }
    else if (event.key === "Enter" && links.length > 0) { window.location.href = links[0].href; }
    else if (event.key === "ArrowDown" && links.length > 0) { event.preventDefault(); links[0].focus(); }
  });
  list.addEventListener("keydown", function (event) {
    var links = Array.prototype.slice.call(list.querySelectorAll("a"));
    var i = links.indexOf(document.activeElement);
    if (event.key === "ArrowDown" && i + 1 < links.length) { event.preventDefault(); links[i + 1].focus(); }
    else if (event.key === "ArrowUp") { event.preventDefault(); (i > 0 ? links[i - 1] : input).focus(); }
    else if (event.key === "Escape") { input.focus(); }
  });
  document.addEventListener("click", function (event) {
    if (!list.contains(event.target) && event.target !== input) list.hidden = true;
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "/" && document.activeElement !== input && !/^(INPUT|TEXTAREA)$/.test(document.activeElement.tagName)) {
      event.preventDefault();
      input.focus();
    }
  });
})();
