// The staff desk's one script: the collision warning on a ticket page. While the reply form
// is open it tells the desk every 10 seconds (a POST with the page's CSRF token); otherwise
// it only asks who else is writing. Without JavaScript the page works, without the warning.
(function () {
  "use strict";
  var section = document.getElementById("reply-section");
  if (!section || !window.fetch) { return; }
  var form = document.getElementById("reply-form");
  var shown = document.getElementById("writing");
  var template = section.querySelector(".writing-template").getAttribute("data-text");
  var url = "/ticket/" + section.getAttribute("data-ticket") + "/presence";
  var token = section.getAttribute("data-csrf");

  function tell(state) {
    var body = new URLSearchParams();
    body.set("state", state);
    return fetch(url, {
      method: "POST", credentials: "same-origin", body: body,
      headers: {"X-CSRF-Token": token}
    }).then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        var text = data.others.length ? template.replace("{who}", data.others.join(", ")) : "";
        if (shown.textContent !== text) { shown.textContent = text; }
      }).catch(function () {});
  }

  form.addEventListener("toggle", function () { tell(form.open ? "open" : "closed"); });
  window.addEventListener("pagehide", function () { if (form.open) { tell("closed"); } });
  window.setInterval(function () {
    if (!document.hidden) { tell(form.open ? "open" : "ask"); }
  }, 10000);
})();
