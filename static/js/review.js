// Review queue behaviour: keyboard shortcuts, row selection that survives the live refresh,
// moving on after a decision, and swapping 409/422 answers (conflicts, form errors) in place.
// A static file because the Content-Security-Policy forbids inline scripts.
(function () {
  "use strict";

  var selectedId = null;
  var selectedIndex = -1;
  var inFlight = 0; // requests whose answer goes into the draft panel
  // A draft that just appeared ignores action keys this long: a double press meant for the
  // previous draft must not approve the next one.
  var ACTION_KEY_DELAY_MS = 700;
  var shownId = null;
  var shownAt = 0;

  function panelDraftId() {
    var article = document.querySelector("#draft-panel article.draft[data-draft-id]");
    return article ? article.dataset.draftId : null;
  }

  function justShown() {
    return Date.now() - shownAt < ACTION_KEY_DELAY_MS;
  }

  function queueUrl(path) {
    // The queue keeps its filters in the query string, also while a draft is open.
    return path + window.location.search;
  }

  function showPosition() {
    var target = document.getElementById("draft-position");
    var count = document.getElementById("queue-count");
    if (!target || !count) {
      return;
    }
    var id = panelDraftId();
    var index = rows().findIndex(function (row) { return row.dataset.draftId === id; });
    var total = parseInt(count.dataset.total, 10) || 0;
    var offset = parseInt(count.dataset.offset, 10) || 1;
    target.textContent = index === -1 || !total ? "" : (offset + index) + " of " + total;
  }

  function showPendingInTitle() {
    var badge = document.getElementById("nav-pending");
    if (!badge) {
      return;
    }
    var count = parseInt(badge.dataset.count, 10) || 0;
    var title = document.title.replace(/^\(\d+\) /, "");
    document.title = count ? "(" + count + ") " + title : title;
  }

  function tickCountdowns() {
    document.querySelectorAll("form.undo-form[data-seconds-left]").forEach(function (form) {
      if (!form.dataset.deadline) {
        form.dataset.deadline = String(Date.now() + parseInt(form.dataset.secondsLeft, 10) * 1000);
      }
      var left = Math.ceil((parseInt(form.dataset.deadline, 10) - Date.now()) / 1000);
      var label = form.querySelector("[data-countdown]");
      var button = form.querySelector("button");
      if (left > 0) {
        label.textContent = "sending in " + left + " s";
      } else if (!button.disabled) {
        label.textContent = "too late to undo: on its way";
        button.disabled = true;
        button.hidden = true;
      }
    });
  }
  window.setInterval(tickCountdowns, 500);

  // --- Bulk selection: boxes survive the live refresh; Shift+click selects a range. ---------
  var picked = new Set();
  var lastPicked = null;

  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll("#queue-rows input.pick-box"));
  }

  function pickId(box) {
    return box.value.split(".")[0];
  }

  function showPicked() {
    var bar = document.getElementById("bulk-form");
    boxes().forEach(function (box) {
      box.checked = picked.has(pickId(box));
      box.closest("tr").classList.toggle("picked", box.checked);
    });
    // Rows that left the list (decided, or on another page) leave the selection too.
    var present = new Set(boxes().map(pickId));
    picked.forEach(function (id) {
      if (!present.has(id)) {
        picked.delete(id);
      }
    });
    if (bar) {
      bar.hidden = picked.size === 0;
      document.getElementById("bulk-count").textContent = picked.size + " selected";
    }
  }

  function togglePick(box, checked, withRange) {
    var list = boxes();
    if (withRange && lastPicked !== null) {
      var from = list.findIndex(function (item) { return pickId(item) === lastPicked; });
      var to = list.indexOf(box);
      if (from !== -1 && to !== -1) {
        list.slice(Math.min(from, to), Math.max(from, to) + 1).forEach(function (item) {
          if (checked) { picked.add(pickId(item)); } else { picked.delete(pickId(item)); }
        });
      }
    }
    if (checked) { picked.add(pickId(box)); } else { picked.delete(pickId(box)); }
    lastPicked = pickId(box);
    showPicked();
  }

  function hasUndoWindow() {
    // Without an undo window an approval sends at once: a single key must not do that.
    var page = document.getElementById("queue-page");
    return Boolean(page) && (parseInt(page.dataset.undoSeconds, 10) || 0) > 0;
  }

  function singleKeysOn() {
    var page = document.getElementById("queue-page");
    return !page || page.dataset.singleKeys !== "off";
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#queue-rows tr[data-draft-id]"));
  }

  function markSelected() {
    rows().forEach(function (row, index) {
      var isSelected = row.dataset.draftId === selectedId;
      row.classList.toggle("selected", isSelected);
      row.setAttribute("aria-selected", isSelected ? "true" : "false");
      if (isSelected) {
        selectedIndex = index;
      }
    });
  }

  function openRow(row) {
    if (!row) {
      return;
    }
    selectedId = row.dataset.draftId;
    markSelected();
    row.scrollIntoView({ block: "nearest" });
    var link = row.querySelector("a.open-draft");
    if (link) {
      htmx.ajax("GET", link.getAttribute("href"), {
        target: "#draft-panel", swap: "innerHTML", push: queueUrl(link.getAttribute("href")),
      });
    }
  }

  function panelBusy() {
    // Between a swap and its settle, htmx has not wired the new buttons yet: a click then
    // would submit the form the old-fashioned way. Action keys wait for a settled panel.
    var panel = document.getElementById("draft-panel");
    return Boolean(panel) && (inFlight > 0 || panel.classList.contains("htmx-swapping") ||
      panel.classList.contains("htmx-settling"));
  }

  function move(step) {
    var list = rows();
    if (!list.length) {
      return;
    }
    var index = list.findIndex(function (row) { return row.dataset.draftId === selectedId; });
    if (index === -1) {
      index = step > 0 ? Math.min(selectedIndex, list.length) - 1 : Math.min(selectedIndex, list.length);
      if (selectedIndex < 0) {
        index = step > 0 ? -1 : list.length;
      }
    }
    index = Math.max(0, Math.min(list.length - 1, index + step));
    openRow(list[index]);
  }

  function clickIfPresent(selector) {
    var element = document.querySelector(selector);
    if (element) {
      element.click();
    }
    return Boolean(element);
  }

  function openReject() {
    var box = document.getElementById("reject-box");
    if (!box) {
      return;
    }
    box.open = true;
    var choice = box.querySelector("select");
    if (choice) {
      choice.focus();
    }
  }

  function toggleShortcuts() {
    var dialog = document.getElementById("shortcuts");
    if (!dialog) {
      return;
    }
    if (dialog.open) {
      dialog.close();
    } else {
      dialog.showModal();
    }
  }

  function isTyping(target) {
    // A ticked box keeps the focus; the keys should still move and select.
    var field = "input:not([type=checkbox]):not([type=radio]), textarea, select, [contenteditable]";
    return Boolean(target.closest && target.closest(field));
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) {
      return;
    }
    if (event.key === "Escape") {
      var dialog = document.getElementById("shortcuts");
      if (dialog && dialog.open) {
        return; // the dialog closes itself
      }
      if (!panelBusy() && clickIfPresent("#cancel-edit")) {
        event.preventDefault();
      }
      return;
    }
    if (isTyping(event.target)) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.closest("#edit-form")) {
        event.preventDefault();
        if (!panelBusy()) {
          clickIfPresent("#save-approve-button");
        }
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (event.key !== "?" && !singleKeysOn()) {
      return; // the reviewer turned single-key shortcuts off
    }
    switch (event.key) {
      case "j":
        move(1);
        break;
      case "k":
        move(-1);
        break;
      case "a":
        if (!panelBusy() && !justShown() && !document.getElementById("edit-form")) {
          if (hasUndoWindow()) {
            clickIfPresent("#approve-button");
          } else {
            var approve = document.getElementById("approve-button");
            if (approve) {
              approve.focus();
            }
          }
        }
        break;
      case "d":
        // Discard a possible spam lead: one key, nothing is sent.
        if (!panelBusy() && !justShown()) {
          clickIfPresent("#discard-button");
        }
        break;
      case "e":
        if (!panelBusy() && !justShown()) {
          clickIfPresent("#edit-button");
        }
        break;
      case "r":
        if (!panelBusy() && !justShown()) {
          openReject();
        }
        break;
      case "x":
        var current = rows().find(function (row) { return row.dataset.draftId === selectedId; });
        var box = current && current.querySelector("input.pick-box");
        if (box) {
          togglePick(box, !box.checked, false);
        }
        break;
      case "?":
        toggleShortcuts();
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-panel]");
    if (closer && document.getElementById("queue-rows")) {
      // On a phone the open draft covers the queue: go back to the list, keeping its filters.
      event.preventDefault();
      var panel = document.getElementById("draft-panel");
      panel.replaceChildren();
      shownId = null;
      window.history.pushState({}, "", queueUrl("/"));
      return;
    }
    var opener = event.target.closest("[data-shortcuts-open]");
    if (opener) {
      toggleShortcuts();
      return;
    }
    var clear = event.target.closest("[data-bulk-clear]");
    if (clear) {
      picked.clear();
      showPicked();
      return;
    }
    var pickBox = event.target.closest("input.pick-box");
    if (pickBox) {
      togglePick(pickBox, pickBox.checked, event.shiftKey);
      return;
    }
    var row = event.target.closest("#queue-rows tr[data-draft-id]");
    if (!row) {
      return;
    }
    if (event.target.closest("a.open-draft")) {
      selectedId = row.dataset.draftId;
      markSelected();
    } else if (!event.target.closest("a, button, input, select, textarea, label, td.pick")) {
      openRow(row);
    }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    // 409 (a colleague was first) and 422 (fix the form) carry the fragment to show.
    var status = event.detail.xhr.status;
    if (status === 409 || status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function targetsPanel(event) {
    var target = event.detail && event.detail.target;
    return Boolean(target) && target.id === "draft-panel";
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (targetsPanel(event)) {
      inFlight += 1;
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.elt && event.detail.elt.id === "bulk-form" && event.detail.successful) {
      picked.clear();
      showPicked();
    }
    if (targetsPanel(event)) {
      inFlight = Math.max(0, inFlight - 1);
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (!targetsPanel(event)) {
      return;
    }
    var id = panelDraftId();
    if (id !== shownId) {
      // Another draft: it starts at the top and ignores action keys for a moment.
      shownId = id;
      shownAt = Date.now();
      event.detail.target.scrollTop = 0;
    }
  });

  function settle() {
    var id = panelDraftId();
    if (id && rows().some(function (row) { return row.dataset.draftId === id; })) {
      selectedId = id;
    }
    markSelected(); // the live refresh replaced the rows: keep the reviewer's place
    showPicked();
    showPosition();
    showPendingInTitle();
    tickCountdowns();
  }

  document.addEventListener("htmx:afterSettle", settle);
  document.addEventListener("htmx:historyRestore", function () {
    shownId = panelDraftId();
    settle();
  });
  document.addEventListener("DOMContentLoaded", function () {
    shownId = panelDraftId();
    shownAt = Date.now();
    settle();
  });

  function showQueueClear() {
    var panel = document.getElementById("draft-panel");
    var template = document.getElementById("queue-clear-template");
    if (!panel || !template) {
      return;
    }
    panel.replaceChildren(template.content.cloneNode(true));
    shownId = null;
    htmx.trigger(document.body, "queue-refresh"); // the list says so too (and shows newcomers)
    window.history.pushState({}, "", queueUrl("/"));
  }

  document.addEventListener("draft-decided", function () {
    // The decided row has left the list; the row now at its place is the next one.
    var list = rows();
    if (!list.length) {
      selectedId = null;
      showQueueClear();
      return;
    }
    openRow(list[Math.max(0, Math.min(selectedIndex, list.length - 1))]);
  });
})();
