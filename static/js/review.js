// Review queue behaviour: keyboard shortcuts, row selection that survives the live refresh,
// moving on after a decision, and swapping 409/422 answers (conflicts, form errors) in place.
// A static file because the Content-Security-Policy forbids inline scripts.
(function () {
  "use strict";

  var selectedId = null;
  var selectedIndex = -1;
  var inFlight = 0; // requests whose answer goes into the draft panel

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
      htmx.ajax("GET", link.getAttribute("href"), { target: "#draft-panel", swap: "innerHTML" });
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
    return Boolean(target.closest && target.closest("input, textarea, select, [contenteditable]"));
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
    switch (event.key) {
      case "j":
        move(1);
        break;
      case "k":
        move(-1);
        break;
      case "a":
        if (!panelBusy() && !document.getElementById("edit-form")) {
          clickIfPresent("#approve-button");
        }
        break;
      case "e":
        if (!panelBusy()) {
          clickIfPresent("#edit-button");
        }
        break;
      case "r":
        if (!panelBusy()) {
          openReject();
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
    var opener = event.target.closest("[data-shortcuts-open]");
    if (opener) {
      toggleShortcuts();
      return;
    }
    var row = event.target.closest("#queue-rows tr[data-draft-id]");
    if (!row) {
      return;
    }
    if (event.target.closest("a.open-draft")) {
      selectedId = row.dataset.draftId;
      markSelected();
    } else if (!event.target.closest("a, button, input, select, textarea, label")) {
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
    if (targetsPanel(event)) {
      inFlight = Math.max(0, inFlight - 1);
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    markSelected(); // the live refresh replaced the rows: keep the reviewer's place
  });

  document.addEventListener("draft-decided", function () {
    // The decided row has left the list; the row now at its place is the next one.
    var list = rows();
    if (!list.length) {
      selectedId = null;
      return;
    }
    openRow(list[Math.max(0, Math.min(selectedIndex, list.length - 1))]);
  });
})();
