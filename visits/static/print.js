// The office's day list: the print button (visits/day.html).
"use strict";
(function () {
  const b = document.getElementById("print");
  if (b) b.addEventListener("click", () => window.print());
})();
