// `workbook serve` only: the server adds this script and its settings (#workbook-serve) to each page
// as it serves it; the built site on disk never loads it. Live reload over the server's event
// stream, and in notebook mode Edit / Run / Stop on each runnable cell, with the run's outputs
// streamed under the cells. Outputs arrive as HTML rendered by the server with the site's own
// templates. Everything stays on this server: no other request is made.
(function () {
  "use strict";
  var holder = document.getElementById("workbook-serve");
  if (!holder || !window.EventSource) return;
  var settings = JSON.parse(holder.textContent);
  var notebook = settings.mode === "notebook" && settings.file && settings.cells;
  var used = false;          // the reader ran or edited a cell: a rebuild must not wipe the page
  var currentRun = null;
  var cells = {};            // cell index -> state

  function make(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function rebuiltNotice() {
    if (document.getElementById("nb-rebuilt")) return;
    var bar = make("div", "nb-rebuilt", "The site was rebuilt. ");
    bar.id = "nb-rebuilt";
    var link = make("a", "", "Reload");
    link.href = location.pathname + location.hash;
    bar.appendChild(link);
    document.body.appendChild(bar);
  }

  function reload() {
    if (!settings.reload) return;
    if (used || currentRun !== null) rebuiltNotice(); else location.reload();
  }

  // One event stream per page while it is shown. A browser opens at most 6 HTTP/1.1 connections
  // to a server, so pages left behind (the back/forward cache) or hidden tabs let go of theirs;
  // a hidden page keeps its stream while a run is streaming into it.
  var events = null;
  function connect() {
    if (events) return;
    events = new EventSource("/__workbook/events");
    events.addEventListener("hello", function (e) {
      // A rebuild while the stream was down (the server restarted, the laptop slept, the tab was hidden).
      if (JSON.parse(e.data).generation !== settings.generation) reload();
    });
    events.addEventListener("reload", function (e) {
      settings.generation = JSON.parse(e.data).generation;
      reload();
    });
    if (notebook) events.addEventListener("run", onRun);
  }
  function disconnect() {
    if (events) { events.close(); events = null; }
  }
  window.addEventListener("pagehide", disconnect);
  window.addEventListener("pageshow", connect);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) connect(); else if (currentRun === null) disconnect();
  });
  connect();
  if (!notebook) return;

  // --- The notebook ---------------------------------------------------------------------------

  function post(path, body) {
    return fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Workbook-Request": "1" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return { error: "HTTP " + r.status }; }).then(function (j) {
        if (!r.ok) throw new Error(j.error || ("HTTP " + r.status));
        return j;
      });
    });
  }

  function setState(state, text, kind) {
    state.label.textContent = text;
    state.label.className = "nb-state" + (kind ? " nb-" + kind : "");
  }

  function markStale(state, why) {
    state.element.classList.add("nb-stale");
    state.element.setAttribute("data-stale", why);
    if (!state.running) setState(state, why, "stale");
  }

  function live(state) {
    if (!state.live) {
      state.live = make("div", "outputs nb-live");
      state.element.appendChild(state.live);
    }
    return state.live;
  }

  function startEditing(state) {
    if (state.editor) { state.editor.focus(); return; }
    used = true;
    var editor = make("textarea", "nb-editor");
    editor.value = state.code;
    editor.spellcheck = false;
    // Tall enough for the code (up to 30 lines; it scrolls beyond): 14px at line-height 1.5.
    function fit() {
      var lines = Math.min(30, Math.max(3, editor.value.replace(/\n$/, "").split("\n").length + 1));
      editor.style.height = (lines * 21 + 28) + "px";
    }
    fit();
    editor.addEventListener("keydown", function (e) {
      if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault();
        var s = editor.selectionStart, end = editor.selectionEnd;
        editor.value = editor.value.slice(0, s) + "    " + editor.value.slice(end);
        editor.selectionStart = editor.selectionEnd = s + 4;
        editor.dispatchEvent(new Event("input"));
      } else if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        run(state);
      }
    });
    editor.addEventListener("input", function () {
      fit();
      if (editor.value !== state.ranCode) markStale(state, "edited since its output");
    });
    // In place of the code it edits.
    if (state.source) {
      state.source.insertAdjacentElement("beforebegin", editor);
      state.source.hidden = true;
    } else {
      state.bar.insertAdjacentElement("afterend", editor);
    }
    state.editor = editor;
    editor.focus();
  }

  function run(state) {
    used = true;
    var code = state.editor ? state.editor.value : state.code;
    setState(state, "saving…", "running");
    // `expected`: the code this page last saw, so an edit made meanwhile in an editor is not overwritten.
    post("/__workbook/run", { file: settings.file, cell: state.index, code: code, expected: state.code }).then(function (reply) {
      state.code = reply.code;
      state.ranCode = code;
      if (state.source) state.source.querySelector("code").textContent = code;
      begin(reply.run, state.index);
    }).catch(function (error) {
      setState(state, error.message, "error");
    });
  }

  function stop() {
    post("/__workbook/stop", {}).catch(function () {});
  }

  function checksList() {
    var list = document.getElementById("nb-checks");
    if (!list) {
      var box = make("section", "nb-checks-box");
      box.appendChild(make("h2", "", "Checks"));
      list = make("ul", "nb-checks");
      list.id = "nb-checks";
      box.appendChild(list);
      var last = null;
      for (var k in cells) if (cells[k].editable) last = cells[k].element;
      (last || document.querySelector("main")).insertAdjacentElement(last ? "afterend" : "beforeend", box);
    }
    return list;
  }

  // A run of the whole file started (by this page or another): every cell waits for its turn.
  function begin(id, cell) {
    if (currentRun !== null && id < currentRun) return;
    if (currentRun === id) return;
    currentRun = id;
    document.body.removeAttribute("data-run");
    var list = document.getElementById("nb-checks");
    if (list) list.textContent = "";
    var problems = document.querySelectorAll(".nb-problem");
    for (var i = 0; i < problems.length; i++) problems[i].remove();
    for (var k in cells) {
      var state = cells[k];
      state.running = true;
      state.runButton.hidden = !state.editable;
      state.stopButton.hidden = !state.editable;
      setState(state, "waiting", "running");
    }
    if (cells[cell]) setState(cells[cell], "compiling…", "running");
  }

  function finish(message, kind) {
    currentRun = null;
    for (var k in cells) {
      var state = cells[k];
      state.stopButton.hidden = true;
      // Cells the run never reached (stopped, or the program did not compile).
      if (state.running) {
        state.running = false;
        setState(state, kind === "ok" ? "not run" : message, kind === "ok" ? "stale" : kind);
      }
    }
  }

  function problemAt(state, text) {
    var box = make("div", "output error nb-problem");
    box.setAttribute("role", "note");
    box.appendChild(make("p", "output-label", "Compile error"));
    box.appendChild(make("pre", "", text));
    (state ? live(state) : document.querySelector("main")).appendChild(box);
  }

  function onRun(e) {
    var ev = JSON.parse(e.data);
    if (ev.file !== settings.file) return;
    if (ev.type === "started") { begin(ev.run, ev.cell); return; }
    if (ev.run !== currentRun) return;
    var state = ev.cell !== undefined ? cells[ev.cell] : null;
    switch (ev.type) {
      case "compiling":
        break;
      case "compileFailed":
        ev.problems.forEach(function (p) {
          var at = p.cell !== undefined ? cells[p.cell] : null;
          if (at && at.live) at.live.textContent = "";
          problemAt(at, settings.file + ":" + p.line + ": " + p.message);
          if (at) { at.running = false; setState(at, "compile error at line " + p.line, "error"); }
        });
        break;
      case "cellStarted":
        if (!state) break;
        var box = live(state);
        box.textContent = "";
        if (state.outputs) state.outputs.hidden = true;
        box.hidden = false;
        setState(state, "running…", "running");
        break;
      case "text":
        if (!state) break;
        var area = live(state);
        var last = area.lastElementChild;
        var cls = ev.stream === "stderr" ? "stderr" : "stdout";
        if (!last || last.tagName !== "PRE" || !last.classList.contains(cls)) {
          last = make("pre", "output " + cls);
          area.appendChild(last);
        }
        last.textContent += ev.text;
        break;
      case "output":
        if (state) live(state).insertAdjacentHTML("beforeend", ev.html);
        break;
      case "progress":
        if (!state) break;
        var bars = live(state).querySelectorAll(".nb-progress"), bar = null;
        for (var i = 0; i < bars.length; i++) if (bars[i].getAttribute("data-label") === ev.label) bar = bars[i];
        if (!bar) {
          bar = make("div", "nb-progress");
          bar.setAttribute("data-label", ev.label);
          bar.appendChild(make("progress"));
          bar.appendChild(make("span"));
          live(state).appendChild(bar);
        }
        bar.firstChild.max = Math.max(ev.total, 1);
        bar.firstChild.value = ev.done;
        bar.lastChild.textContent = ev.text || (ev.label + " " + ev.done + "/" + ev.total);
        break;
      case "cellFinished":
        if (!state) break;
        state.running = false;
        if (ev.html !== undefined) {
          var keep = live(state).querySelectorAll(".nb-progress");
          live(state).innerHTML = ev.html;
          for (var j = 0; j < keep.length; j++) live(state).insertBefore(keep[j], live(state).firstChild);
        }
        state.element.setAttribute("data-status", ev.status);
        if (ev.status === "ok" || ev.status === "expected-error") {
          if (!state.editor || state.editor.value === state.ranCode) {
            state.element.classList.remove("nb-stale");
            state.element.removeAttribute("data-stale");
          }
          setState(state, "ran" + (ev.seconds >= 0.01 ? " in " + ev.seconds.toFixed(2) + " s" : ""), "ok");
        } else if (ev.status === "not-run") {
          setState(state, "not run: an earlier cell failed", "stale");
        } else {
          setState(state, ev.status === "timeout" ? "timed out" : "failed", "error");
        }
        break;
      case "check":
        var item = make("li", ev.passed ? "nb-pass" : "nb-fail");
        item.appendChild(make("span", "nb-mark", ev.passed ? "✓ " : "✗ "));
        item.appendChild(make("strong", "", ev.name));
        item.appendChild(document.createTextNode(" (" + ev.points + "/" + ev.max + ")" + (ev.message ? ": " + ev.message : "")));
        checksList().appendChild(item);
        break;
      case "finished":
        finish(ev.stopped ? "stopped" : ev.succeeded ? "done" : "failed", ev.stopped ? "stopped" : ev.succeeded ? "ok" : "error");
        document.body.setAttribute("data-run", ev.stopped ? "stopped" : ev.succeeded ? "succeeded" : "failed");
        break;
      case "failed":
        problemAt(null, ev.message);
        finish("failed", "error");
        document.body.setAttribute("data-run", "failed");
        break;
    }
  }

  // Every cell runs with its file; the editable ones get the buttons.
  settings.cells.forEach(function (c) {
    var element = (c.editable && document.getElementById(c.id + "-starter")) || document.getElementById(c.id);
    if (!element) return;
    var state = {
      index: c.index, element: element, code: c.code, ranCode: null, editable: c.editable,
      source: element.querySelector("pre.source"), outputs: element.querySelector(".outputs"), live: null
    };
    state.bar = make("div", "nb-bar");
    state.editButton = make("button", "nb-edit", "Edit");
    state.runButton = make("button", "nb-run", "Run");
    state.stopButton = make("button", "nb-stop", "Stop");
    [state.editButton, state.runButton, state.stopButton].forEach(function (b) { b.type = "button"; });
    state.stopButton.hidden = true;
    state.label = make("span", "nb-state");
    if (c.editable) {
      state.bar.appendChild(state.editButton);
      state.bar.appendChild(state.runButton);
      state.bar.appendChild(state.stopButton);
      state.editButton.addEventListener("click", function () { startEditing(state); });
      state.runButton.addEventListener("click", function () { run(state); });
      state.stopButton.addEventListener("click", stop);
      // An answer folded away in a solution toggle is the reader's own code here: open it.
      var details = element.closest("details.solution");
      if (details) details.open = true;
      // On an exercise, the code shown is the reader's answer to edit, not only a starting point.
      var label = element.querySelector(".cell-label");
      if (label && settings.kind === "exercise") label.textContent = "Your answer";
    }
    state.bar.appendChild(state.label);
    element.insertBefore(state.bar, element.firstChild);
    element.classList.add("nb-cell");
    cells[c.index] = state;
    markStale(state, "not run in this session");
  });
  document.body.classList.add("nb-notebook");
})();
