// Keyboard shortcuts for /review: j/k move, s/c/x confirm as supports/contradicts/context, r reject.
// The page works without this file; it only fills in and submits the forms that are already there.
(function () {
  "use strict";
  var items = Array.prototype.slice.call(document.querySelectorAll("li.suggestion"));
  var current = -1;
  function select(i) {
    if (!items.length) return;
    current = Math.max(0, Math.min(items.length - 1, i));
    items.forEach(function (el, n) { el.classList.toggle("current", n === current); });
    items[current].focus();
    items[current].scrollIntoView({block: "nearest"});
  }
  function confirmAs(stance) {
    var form = items[current] && items[current].querySelector("form.confirm");
    if (!form) return;
    form.querySelector("select[name=stance]").value = stance;
    form.submit();
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) return;
    var key = event.key;
    if (key === "j") { select(current + 1); }
    else if (key === "k") { select(current - 1); }
    else if (current < 0) { return; }
    else if (key === "s") { confirmAs("supports"); }
    else if (key === "c") { confirmAs("contradicts"); }
    else if (key === "x") { confirmAs("context"); }
    else if (key === "r") {
      var form = items[current].querySelector("form.reject");
      if (form) form.submit();
    } else { return; }
    event.preventDefault();
  });
})();
