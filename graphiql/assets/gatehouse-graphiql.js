// Bootstrap for Gatehouse's GraphiQL page (package gatehouse/graphiql).
// Kept in a file rather than inline so the page's Content-Security-Policy can
// forbid inline scripts. Expects the UMD globals React, ReactDOM and GraphiQL.
//
// Sign-in: the page performs the OAuth client-credentials grant itself with the
// client id and secret the admin enters, and renews the token after 80% of its
// lifetime. The secret lives only in this page's memory; the token, its expiry
// and the client id are kept in sessionStorage so that a reload of the tab
// keeps the session (without the secret, a reloaded page cannot renew: it asks
// to sign in again when the token expires). Nothing goes to localStorage: GraphiQL's
// own state (tabs, history, which may hold credential secrets typed into a
// binding mutation) is kept in sessionStorage too.
(function () {
  'use strict';

  var SESSION_KEY = 'gatehouse.graphiql.session';
  // Earlier versions kept a pasted token in localStorage: remove it.
  var LEGACY_TOKEN_KEY = 'gatehouse.graphiql.bearerToken';
  var RETRY_MS = 10000;

  var root = document.getElementById('graphiql');
  var endpoint = root.getAttribute('data-endpoint');
  var tokenEndpoint = root.getAttribute('data-token-endpoint');
  var examples = root.getAttribute('data-examples');
  var form = document.getElementById('gatehouse-signin');
  var idInput = document.getElementById('gatehouse-client-id');
  var secretInput = document.getElementById('gatehouse-client-secret');
  var signInButton = document.getElementById('gatehouse-signin-button');
  var sessionBox = document.getElementById('gatehouse-session');
  var whoami = document.getElementById('gatehouse-whoami');
  var status = document.getElementById('gatehouse-status');

  // session: {clientId, token, scope, lifetime, expiresAt (ms)}; secret is kept apart, in memory.
  var session = null;
  var secret = '';
  var renewTimer = null;
  var renewing = null; // the renewal in flight, a Promise

  try {
    window.localStorage.removeItem(LEGACY_TOKEN_KEY);
  } catch (e) {
    // Storage disabled: nothing to remove.
  }

  function saveSession() {
    try {
      if (session) {
        window.sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
      } else {
        window.sessionStorage.removeItem(SESSION_KEY);
      }
    } catch (e) {
      // Storage disabled: the session lasts as long as this page view.
    }
  }

  function loadSession() {
    try {
      var s = JSON.parse(window.sessionStorage.getItem(SESSION_KEY) || 'null');
      if (s && s.token && s.expiresAt > Date.now() + 1000) {
        return s;
      }
    } catch (e) {
      // Unreadable or disabled storage: start signed out.
    }
    return null;
  }

  function setStatus(text, isError) {
    status.textContent = text || '';
    status.className = 'gatehouse-status' + (isError ? ' gatehouse-error' : '');
  }

  // formEncode is application/x-www-form-urlencoded encoding, which HTTP Basic
  // client credentials use (RFC 6749 §2.3.1).
  function formEncode(s) {
    return encodeURIComponent(s).replace(/%20/g, '+');
  }

  // requestToken performs the client-credentials grant.
  function requestToken(clientId, clientSecret) {
    return window
      .fetch(tokenEndpoint, {
        method: 'POST',
        credentials: 'omit',
        cache: 'no-store',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Authorization: 'Basic ' + window.btoa(formEncode(clientId) + ':' + formEncode(clientSecret)),
        },
        body: 'grant_type=client_credentials',
      })
      .then(function (resp) {
        return resp
          .json()
          .catch(function () {
            return {};
          })
          .then(function (body) {
            if (!resp.ok || !body.access_token) {
              var why = body.error_description || body.error || 'HTTP ' + resp.status;
              throw new Error('Sign-in failed: ' + why);
            }
            var lifetime = (body.expires_in || 3600) * 1000;
            return {
              clientId: clientId,
              token: body.access_token,
              scope: body.scope || '',
              lifetime: lifetime,
              expiresAt: Date.now() + lifetime,
            };
          });
      });
  }

  function scheduleRenewal() {
    window.clearTimeout(renewTimer);
    renewTimer = null;
    if (!session) {
      return;
    }
    var left = session.expiresAt - Date.now();
    if (!secret) {
      // A reloaded page has no secret: sign out when the token expires.
      renewTimer = window.setTimeout(function () {
        signOut('The session expired. Sign in again.');
      }, Math.max(left, 0));
      return;
    }
    renewTimer = window.setTimeout(renew, Math.max(left * 0.8, 1000));
  }

  // renew gets a new token with the secret in memory; calls while one is in
  // flight share it.
  function renew() {
    if (renewing) {
      return renewing;
    }
    var clientId = session.clientId;
    renewing = requestToken(clientId, secret)
      .then(
        function (s) {
          if (session && session.clientId === clientId) {
            session = s;
            saveSession();
            showSession();
            scheduleRenewal();
          }
        },
        function (err) {
          if (!session) {
            return;
          }
          if (session.expiresAt - Date.now() > RETRY_MS) {
            setStatus('Token renewal failed; retrying. ' + err.message, true);
            window.clearTimeout(renewTimer);
            renewTimer = window.setTimeout(renew, RETRY_MS);
          } else {
            signOut('The session expired and could not be renewed. ' + err.message);
          }
        }
      )
      .then(function () {
        renewing = null;
      });
    return renewing;
  }

  // nearExpiry: the token is about to expire (or has: a sleeping laptop delays
  // the renewal timer), so renew before sending a request with it.
  function nearExpiry() {
    var margin = Math.min(30000, (session.lifetime || 3600000) * 0.1);
    return session.expiresAt - Date.now() < margin;
  }

  function showSession() {
    var signedIn = !!session;
    form.hidden = signedIn;
    sessionBox.hidden = !signedIn;
    if (signedIn) {
      whoami.textContent =
        'Signed in as ' + session.clientId + (session.scope ? ' (scopes: ' + session.scope + ')' : '') +
        (secret ? '; the token renews itself' : '');
      setStatus('');
    }
  }

  function signOut(message) {
    session = null;
    secret = '';
    saveSession();
    window.clearTimeout(renewTimer);
    renewTimer = null;
    showSession();
    setStatus(message || '', !!message);
    render();
    idInput.focus();
  }

  // fetchWithToken adds "Authorization: Bearer <token>" to every request
  // unless the GraphiQL Headers editor already sets Authorization.
  function fetchWithToken(resource, init) {
    init = Object.assign({}, init);
    var headers = new Headers(init.headers || {});
    if (session && !headers.has('Authorization')) {
      headers.set('Authorization', 'Bearer ' + session.token);
    }
    init.headers = headers;
    init.credentials = 'omit';
    return window.fetch(resource, init);
  }

  var graphqlFetcher = GraphiQL.createFetcher({ url: endpoint, fetch: fetchWithToken });

  // Signed out, operations are not sent: the answer says what to do instead.
  function fetcher(params, opts) {
    var signedOut = {
      errors: [{ message: 'Sign in first: enter an integration client\u2019s ID and secret above.' }],
    };
    if (!session) {
      return Promise.resolve(signedOut);
    }
    if (secret && nearExpiry()) {
      return renew().then(function () {
        return session ? graphqlFetcher(params, opts) : signedOut;
      });
    }
    return graphqlFetcher(params, opts);
  }

  var graphiqlStorage;
  try {
    graphiqlStorage = window.sessionStorage;
  } catch (e) {
    graphiqlStorage = undefined; // GraphiQL falls back to its default
  }

  var reactRoot = ReactDOM.createRoot(root);

  function render() {
    reactRoot.render(
      React.createElement(GraphiQL, {
        // A new key remounts GraphiQL, which introspects again with the new
        // token; signed out, schema null means no introspection at all.
        key: session ? 'signed-in:' + session.clientId : 'signed-out',
        fetcher: fetcher,
        schema: session ? undefined : null,
        defaultQuery: examples,
        storage: graphiqlStorage,
        defaultEditorToolsVisibility: true,
      })
    );
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var clientId = idInput.value.trim();
    var clientSecret = secretInput.value.trim();
    if (!clientId || !clientSecret) {
      setStatus('Enter the client ID and secret.', true);
      return;
    }
    signInButton.disabled = true;
    setStatus('Signing in\u2026');
    requestToken(clientId, clientSecret).then(
      function (s) {
        signInButton.disabled = false;
        session = s;
        secret = clientSecret;
        secretInput.value = '';
        saveSession();
        showSession();
        scheduleRenewal();
        render();
      },
      function (err) {
        signInButton.disabled = false;
        setStatus(err.message, true);
      }
    );
  });
  document.getElementById('gatehouse-signout').addEventListener('click', function () {
    signOut('');
  });

  session = loadSession();
  showSession();
  scheduleRenewal();
  render();
})();
