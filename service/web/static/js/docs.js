// Starts Swagger UI on /schema (a file, not an inline script, so the page's
// Content-Security-Policy can forbid inline scripts).
window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    // An API key entered under "Authorize" stays in this page's memory only.
    persistAuthorization: false,
  });
});
