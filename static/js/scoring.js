// The scoring criteria editor: a live points total, add / remove / reorder rows, and only the
// parameters the chosen kind needs. The form works without this file (order numbers, remove
// boxes, one blank row); this only makes it quicker.
(function () {
  "use strict";

  const PARAMS = {
    employees_between: ["min", "max"],
    employees_at_least: ["min"],
    team_size: ["min"],
    sector_in: ["values"],
    country_in: ["values"],
    tech_stack_any: ["values"],
    label_in: ["values"],
    message_mentions: ["keywords", "question"],
    judged: ["keywords", "question"],
    timeline: ["question"],
    budget: ["question"],
    seniority: ["question"],
  };
  PARAMS.team_size = ["min", "question"];

  function rows(form) {
    return Array.from(form.querySelectorAll("#criteria-rows [data-criterion]"));
  }

  function field(row, suffix) {
    return row.querySelector(`[name$="-${suffix}"]`);
  }

  function isRemoved(row) {
    const remove = field(row, "DELETE");
    return remove && remove.checked;
  }

  function updateTotal(form) {
    let total = 0;
    for (const row of rows(form)) {
      if (isRemoved(row)) continue;
      const points = parseInt(field(row, "points").value, 10);
      if (points > 0) total += points;
    }
    const shown = document.getElementById("points-total");
    if (shown) shown.textContent = String(total);
  }

  function showParams(row) {
    const kind = field(row, "check").value;
    const wanted = PARAMS[kind] || [];
    for (const box of row.querySelectorAll("[data-param]")) {
      box.hidden = !wanted.includes(box.dataset.param);
    }
    const note = row.querySelector("[data-judged-note]");
    if (note) note.hidden = kind !== "judged" && kind !== "message_mentions";
  }

  function renumber(form) {
    rows(form).forEach((row, index) => {
      const order = field(row, "ORDER");
      if (order) order.value = String(index + 1);
    });
  }

  function addControls(form, row) {
    if (row.querySelector(".row-controls")) return;
    const controls = document.createElement("div");
    controls.className = "row-controls";
    for (const [name, text] of [["up", "↑"], ["down", "↓"], ["remove", "Remove"]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.action = name;
      button.textContent = text;
      button.setAttribute("aria-label", name === "remove" ? "Remove this criterion" : `Move ${name}`);
      controls.appendChild(button);
    }
    row.appendChild(controls);
    for (const name of ["order", "remove"]) {
      const box = row.querySelector(`.field.${name}`);
      if (box) box.hidden = true;
    }
    showParams(row);
  }

  function setUp(form) {
    if (form.querySelector("fieldset[disabled]")) return;
    const container = form.querySelector("#criteria-rows");
    const template = document.getElementById("criterion-template");
    const totalForms = form.querySelector('[name="criteria-TOTAL_FORMS"]');
    // The blank row is for pages without JavaScript; here the Add button makes rows.
    const last = rows(form).at(-1);
    if (last && !field(last, "label").value && !field(last, "key").value) {
      last.remove();
      totalForms.value = String(rows(form).length);
    }
    rows(form).forEach((row) => addControls(form, row));
    renumber(form);

    const add = document.getElementById("add-criterion");
    add.hidden = false;
    add.addEventListener("click", () => {
      const index = parseInt(totalForms.value, 10);
      const html = template.innerHTML.replaceAll("__prefix__", String(index));
      container.insertAdjacentHTML("beforeend", html);
      totalForms.value = String(index + 1);
      const row = rows(form).at(-1);
      addControls(form, row);
      renumber(form);
      field(row, "label").focus();
    });

    form.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button) return;
      const row = button.closest("[data-criterion]");
      if (button.dataset.action === "up" && row.previousElementSibling) {
        row.parentNode.insertBefore(row, row.previousElementSibling);
      } else if (button.dataset.action === "down" && row.nextElementSibling) {
        row.parentNode.insertBefore(row.nextElementSibling, row);
      } else if (button.dataset.action === "remove") {
        field(row, "DELETE").checked = true;
        row.hidden = true;
      }
      renumber(form);
      updateTotal(form);
    });
    form.addEventListener("input", () => updateTotal(form));
    form.addEventListener("change", (event) => {
      const row = event.target.closest("[data-criterion]");
      if (row && event.target.name.endsWith("-check")) showParams(row);
      updateTotal(form);
    });
    updateTotal(form);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("criteria-form");
    if (form) setUp(form);
  });
})();
