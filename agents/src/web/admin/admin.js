// postrider admin statistics: reloads the plots every 5 seconds without reloading the
// page (served from this origin; the page allows no other script).
"use strict";
(function () {
  function refresh() {
    var stamp = Date.now();
    document.querySelectorAll("img.plot").forEach(function (img) {
      img.src = img.getAttribute("data-src") + "?t=" + stamp;
    });
    var updated = document.getElementById("updated");
    if (updated) {
      updated.textContent = new Date().toLocaleTimeString();
    }
  }
  window.setInterval(refresh, 5000);
})();
