// The live list: new messages arrive over Server-Sent Events
// (/api/v1/events) and are added at the top without a reload. Built with
// DOM calls and textContent only: a subject is never parsed as HTML.
"use strict";
// Deleting asks first (the forms work without script too).
document.addEventListener("submit", function (ev) {
  var f = ev.target;
  if (f.classList && f.classList.contains("danger")) {
    var what = f.action.indexOf("/messages/delete") >= 0 ? "every message" : "this message";
    if (!window.confirm("Delete " + what + "?")) { ev.preventDefault(); }
  }
});
(function () {
  var live = document.getElementById("live");
  var rows = document.getElementById("rows");
  if (!live || !rows || live.dataset.filter) { return; }
  var after = live.dataset.after || "0";
  var es = new EventSource("/api/v1/events?after=" + encodeURIComponent(after));
  function cell(label, node) {
    var td = document.createElement("td");
    td.dataset.label = label;
    if (typeof node === "string") { td.textContent = node; } else { td.appendChild(node); }
    return td;
  }
  function size(n) {
    if (n >= 1048576) { return (n / 1048576).toFixed(1) + " MB"; }
    if (n >= 1024) { return (n / 1024).toFixed(1) + " KB"; }
    return n + " B";
  }
  es.onopen = function () { live.textContent = "Live: new messages appear at the top."; live.dataset.state = "open"; };
  es.onerror = function () { live.textContent = "Connection lost; reconnecting…"; live.dataset.state = "error"; };
  es.addEventListener("message", function (ev) {
    var m = JSON.parse(ev.data);
    if (rows.querySelector('tr[data-seq="' + m.seq + '"]')) { return; }
    var tr = document.createElement("tr");
    tr.dataset.seq = String(m.seq);
    tr.className = "new";
    var t = document.createElement("time");
    t.dateTime = m.received;
    t.textContent = new Date(m.received).toTimeString().slice(0, 8);
    tr.appendChild(cell("Received", t));
    tr.appendChild(cell("From", m.from || ""));
    tr.appendChild(cell("To", (m.to || []).join(", ")));
    var subj = document.createElement("span");
    var a = document.createElement("a");
    a.href = "/messages/" + encodeURIComponent(m.id);
    a.textContent = m.subject || "(no subject)";
    subj.appendChild(a);
    if (m.has_reset) {
      var tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = "reset link";
      subj.appendChild(document.createTextNode(" "));
      subj.appendChild(tag);
    }
    tr.appendChild(cell("Subject", subj));
    var sev = document.createElement("span");
    sev.className = "sev sev-" + m.worst;
    sev.textContent = m.worst;
    tr.appendChild(cell("Checks", sev));
    tr.appendChild(cell("Size", size(m.size)));
    rows.insertBefore(tr, rows.firstChild);
    var empty = document.getElementById("empty");
    if (empty) { empty.hidden = true; }
    live.textContent = "Live: new message “" + (m.subject || "(no subject)") + "” from " + (m.from || "?") + ".";
  });
  es.addEventListener("deleted", function () { window.location.reload(); });
})();
