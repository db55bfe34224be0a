// Keyboard shortcuts of the agent workspace: a disposition's key selects it, Ctrl+Enter logs the
// outcome, N takes the next customer. Keys typed into a text field are left alone.
(function () {
  "use strict";
  var started = Date.now();
  document.body.addEventListener("htmx:afterSwap", function () { started = Date.now(); });

  function typing(target) {
    var tag = (target.tagName || "").toLowerCase();
    return tag === "input" && target.type !== "radio" && target.type !== "checkbox" ||
      tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  document.addEventListener("keydown", function (event) {
    var form = document.getElementById("outcome-form");
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && form) {
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (form) {
      var hint = form.querySelector('kbd[data-shortcut-for][data-key="' + event.key.toLowerCase() + '"]');
      if (hint) {
        var radio = form.querySelector('input[name="disposition"][value="' + hint.dataset.shortcutFor + '"]');
        if (radio) { radio.checked = true; radio.focus(); event.preventDefault(); }
        return;
      }
    }
    if (event.key === "n" || event.key === "N") {
      var next = document.getElementById("next-customer");
      if (next) { event.preventDefault(); next.click(); }
    }
  });

  // The handle time: seconds since the card appeared, sent with the outcome.
  document.addEventListener("submit", function (event) {
    var duration = event.target.querySelector && event.target.querySelector('input[name="duration_seconds"]');
    if (duration && !duration.value) { duration.value = Math.round((Date.now() - started) / 1000); }
  }, true);
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt && event.detail.elt.id === "outcome-form" && !event.detail.parameters.duration_seconds) {
      event.detail.parameters.duration_seconds = Math.round((Date.now() - started) / 1000);
    }
  });
})();
