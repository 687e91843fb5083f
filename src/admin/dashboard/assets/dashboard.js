// Optional auto-refresh of the dashboard (off by default; the choice is kept in localStorage).
(function () {
  var nav = document.querySelector("nav");
  // Not on a confirmation page (a reload would lose the reason being typed), nor on a page that
  // answers a post (a reload would post the action again).
  if (!nav || document.querySelector(".confirm, [data-answer-to-post]")) { return; }
  var label = document.createElement("label");
  label.className = "refresh";
  var box = document.createElement("input");
  box.type = "checkbox";
  box.id = "auto-refresh";
  box.checked = window.localStorage.getItem("bnpl-auto-refresh") === "1";
  label.appendChild(box);
  label.appendChild(document.createTextNode(" auto-refresh"));
  nav.insertBefore(label, nav.firstChild);
  var timer = null;
  function arm() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (box.checked) { timer = setTimeout(function () { window.location.reload(); }, 10000); }
  }
  box.addEventListener("change", function () {
    window.localStorage.setItem("bnpl-auto-refresh", box.checked ? "1" : "0");
    arm();
  });
  arm();
})();
