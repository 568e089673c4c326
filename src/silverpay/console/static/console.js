// The console's only script besides htmx: tell the server the browser's time zone (a cookie read
// when rendering times), and send the CSRF token with every htmx request.
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("silverpay_tz=" + zone) < 0) {
      document.cookie = "silverpay_tz=" + zone + "; path=/console; SameSite=Strict; max-age=31536000";
      if (document.body && document.body.dataset.tz !== zone && !sessionStorage.getItem("silverpay_tz_reloaded")) {
        sessionStorage.setItem("silverpay_tz_reloaded", "1");
        location.reload();
      }
    }
  } catch (e) { /* no Intl: the server's default zone is shown, and named */ }
  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.querySelector('meta[name="csrf-token"]');
    if (token && token.content) { event.detail.headers["X-CSRF-Token"] = token.content; }
  });
})();
