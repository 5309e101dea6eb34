// Page behaviour that needs script: the theme toggle, copy buttons on code, "show all" on long
// outputs. Everything works from file:// and makes no request.
(function () {
  "use strict";
  var root = document.documentElement;

  // Theme: automatic (the system's) -> light -> dark -> automatic. The head script applied the
  // stored choice before the first paint; this keeps it in step with clicks and system changes.
  var order = ["auto", "light", "dark"];
  var labels = { auto: "Theme: automatic", light: "Theme: light", dark: "Theme: dark" };
  var system = window.matchMedia ? matchMedia("(prefers-color-scheme: dark)") : null;
  function apply(choice) {
    var dark = choice === "dark" || (choice === "auto" && system && system.matches);
    root.setAttribute("data-theme", dark ? "dark" : "light");
    root.setAttribute("data-theme-choice", choice);
    var button = document.getElementById("theme-toggle");
    if (button) { button.title = labels[choice]; button.setAttribute("aria-label", labels[choice]); }
  }
  function stored() {
    try { var c = localStorage.getItem("workbook-theme"); return c === "light" || c === "dark" ? c : "auto"; }
    catch (e) { return "auto"; }
  }
  apply(stored());
  var toggle = document.getElementById("theme-toggle");
  if (toggle) {
    toggle.addEventListener("click", function () {
      var next = order[(order.indexOf(root.getAttribute("data-theme-choice") || "auto") + 1) % order.length];
      try { if (next === "auto") localStorage.removeItem("workbook-theme"); else localStorage.setItem("workbook-theme", next); }
      catch (e) { /* storage off: the choice lasts for this page only */ }
      apply(next);
    });
  }
  if (system && system.addEventListener) {
    system.addEventListener("change", function () { apply(stored()); });
  }
  // A choice made in another tab or page of the course reaches this one too.
  window.addEventListener("storage", function (event) {
    if (event.key === null || event.key === "workbook-theme") apply(stored());
  });

  // Copy buttons: the code's text as written (highlighting spans are not part of it).
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    document.body.removeChild(area);
  }
  function copied(button, text) {
    // Tests (and curious readers) can see what the last copy put on the clipboard.
    root.setAttribute("data-last-copied", text);
    button.textContent = "Copied";
    button.classList.add("done");
    setTimeout(function () { button.textContent = "Copy"; button.classList.remove("done"); }, 1500);
  }
  var blocks = document.querySelectorAll("pre.source, article pre > code");
  Array.prototype.forEach.call(blocks, function (block) {
    var pre = block.tagName === "PRE" ? block : block.parentNode;
    if (pre.querySelector(".copy-button")) return;
    var code = pre.querySelector("code") || pre;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy-button";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy the code");
    button.addEventListener("click", function () {
      var text = code.textContent;
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(function () { copied(button, text); },
          function () { fallbackCopy(text); copied(button, text); });
      } else {
        fallbackCopy(text);
        copied(button, text);
      }
    });
    pre.classList.add("has-copy");
    pre.appendChild(button);
  });

  // Long outputs: the button shows the rest.
  Array.prototype.forEach.call(document.querySelectorAll(".fold-output .show-all"), function (button) {
    button.addEventListener("click", function () {
      button.parentNode.classList.remove("folded");
      button.parentNode.removeChild(button);
    });
  });
})();
