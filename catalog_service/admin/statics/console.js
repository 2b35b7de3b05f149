// The console's additions to sqladmin's pages (loaded after its main.js):
// - the session's CSRF token on every change (csrf.py): a hidden field in each POST form, a
//   header on sqladmin's AJAX calls, a query parameter on its action links and on logout;
// - the flash toasts, which sqladmin starts with an inline script that our CSP forbids.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (!meta) return;
  var token = meta.getAttribute("content");

  function withToken(url) {
    var target = new URL(url, window.location.href);
    target.searchParams.set("csrf_token", token);
    return target.toString();
  }

  document.querySelectorAll("form").forEach(function (form) {
    if ((form.getAttribute("method") || "").toUpperCase() !== "POST") return;
    if (form.querySelector('input[name="csrf_token"]')) return;
    var field = document.createElement("input");
    field.type = "hidden";
    field.name = "csrf_token";
    field.value = token;
    form.appendChild(field);
  });

  if (window.jQuery) {
    window.jQuery.ajaxSetup({ headers: { "X-CSRF-Token": token } });
    // sqladmin's list actions navigate to data-url + "?pks=...": rebuilt with the token.
    var $ = window.jQuery;
    $("[id^='action-custom-']").off("click").on("click", function (event) {
      event.preventDefault();
      var pks = [];
      $(".select-box:checked").each(function () {
        pks.push($(this).siblings().get(0).value);
      });
      var target = new URL($(this).attr("data-url"), window.location.href);
      target.searchParams.set("pks", pks.join(","));
      window.location.href = withToken(target);
    });
  }

  // Action links of the details page, their confirmation buttons, and logout.
  document.querySelectorAll('a[href*="/action/"], a[href$="/logout"]').forEach(function (link) {
    link.setAttribute("href", withToken(link.getAttribute("href")));
  });

  if (window.tabler && window.tabler.bootstrap) {
    document.querySelectorAll(".toast").forEach(function (element) {
      new window.tabler.bootstrap.Toast(element, { delay: 4000 }).show();
    });
  }
})();
