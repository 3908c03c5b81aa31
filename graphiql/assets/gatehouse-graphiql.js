// Bootstrap for Gatehouse's GraphiQL page (package gatehouse/graphiql).
// Kept in a file rather than inline so the page's Content-Security-Policy can
// forbid inline scripts. Expects the UMD globals React, ReactDOM and GraphiQL.
(function () {
  'use strict';

  var TOKEN_KEY = 'gatehouse.graphiql.bearerToken';

  var root = document.getElementById('graphiql');
  var input = document.getElementById('gatehouse-token');
  var clear = document.getElementById('gatehouse-token-clear');
  var endpoint = root.getAttribute('data-endpoint');

  function loadToken() {
    try {
      return window.localStorage.getItem(TOKEN_KEY) || '';
    } catch (e) {
      return '';
    }
  }

  function saveToken(token) {
    try {
      if (token) {
        window.localStorage.setItem(TOKEN_KEY, token);
      } else {
        window.localStorage.removeItem(TOKEN_KEY);
      }
    } catch (e) {
      // Storage disabled: the token still works for this page view.
    }
  }

  function currentToken() {
    // Accept a pasted "Bearer xyz" as well as a bare token.
    return input.value.trim().replace(/^bearer\s+/i, '');
  }

  // fetchWithToken adds "Authorization: Bearer <token>" to every request
  // unless the GraphiQL Headers editor already sets Authorization.
  function fetchWithToken(resource, init) {
    init = Object.assign({}, init);
    var headers = new Headers(init.headers || {});
    var token = currentToken();
    if (token && !headers.has('Authorization')) {
      headers.set('Authorization', 'Bearer ' + token);
    }
    init.headers = headers;
    init.credentials = 'same-origin';
    return window.fetch(resource, init);
  }

  var reactRoot = ReactDOM.createRoot(root);

  function render() {
    // A new fetcher makes GraphiQL re-run schema introspection, so the
    // schema (docs, autocompletion) follows the token in use.
    var fetcher = GraphiQL.createFetcher({ url: endpoint, fetch: fetchWithToken });
    reactRoot.render(
      React.createElement(GraphiQL, {
        fetcher: fetcher,
        defaultEditorToolsVisibility: true,
      })
    );
  }

  input.value = loadToken();
  input.addEventListener('input', function () {
    saveToken(currentToken());
  });
  input.addEventListener('change', render);
  // Enter in the token box applies it; the form is never submitted.
  document.getElementById('gatehouse-tokenbar').addEventListener('submit', function (e) {
    e.preventDefault();
    render();
  });
  clear.addEventListener('click', function () {
    input.value = '';
    saveToken('');
    render();
    input.focus();
  });

  render();
})();
