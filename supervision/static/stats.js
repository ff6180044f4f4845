// The printable report's «Печать» button (a script file: the CSP forbids inline handlers).
"use strict";
(function () {
  const button = document.getElementById("stats-print");
  if (button) {
    button.addEventListener("click", () => window.print());
  }
})();
