/* The periodic task form: under the crontab field, the chosen crontab in words
   (django-celery-beat's inline script, as a file for the Content-Security-Policy). */
"use strict";
{
  const data = document.getElementById("readable-crontabs");
  const select = document.getElementById("id_crontab");
  const help = document.querySelector(".field-crontab .help");
  if (data && select && help) {
    const readable = JSON.parse(data.textContent);
    const original = help.textContent;
    for (const row of document.querySelectorAll(".field-crontab_translation")) {
      row.style.display = "none";
    }
    select.addEventListener("change", () => {
      help.textContent = original;
      help.append(document.createElement("br"), `Translation: ${readable[select.value] || ""}`);
    });
  }
}
