// Starts Swagger UI on the OpenAPI document named by the page's data-spec attribute.
// Gatehouse's own file (not third-party); kept out of the HTML so that the page's
// Content-Security-Policy can forbid inline scripts.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  root.textContent = "";
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec"),
    domNode: root,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // No badge asking validator.swagger.io about the document: the page talks to this server only.
    validatorUrl: null,
    // A bearer token typed into "Authorize" stays in this page's memory, never in localStorage.
    persistAuthorization: false,
    defaultModelsExpandDepth: 0,
  });
})();
