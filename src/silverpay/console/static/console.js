// The console's only script besides htmx: report the browser's time zone (the sign-in form sends
// it, and a cookie keeps it for later pages; no reload), and send the CSRF token with every htmx request.
(function () {
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { /* the default zone is shown, and named */ }
  if (zone) {
    document.cookie = "silverpay_tz=" + zone + "; path=/console; SameSite=Strict; max-age=31536000";
    document.addEventListener("DOMContentLoaded", function () {
      var field = document.querySelector('input[name="tz"]');
      if (field) { field.value = zone; }
    });
  }
  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.querySelector('meta[name="csrf-token"]');
    if (token && token.content) { event.detail.headers["X-CSRF-Token"] = token.content; }
  });
})();
