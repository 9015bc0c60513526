/* The user's theme choice applied before the first paint. A classic script on purpose: module
   scripts are deferred, so theme.js (the switch) would run after the page has been painted.
   Keep the key in step with theme.js. Defines no global. */
{
  let choice = "system";
  try { choice = localStorage.getItem("tailboard.theme") || "system"; } catch (_e) { /* private mode */ }
  if (choice === "light" || choice === "dark") document.documentElement.dataset.theme = choice;
}
