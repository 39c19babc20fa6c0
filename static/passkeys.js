// Passkeys: the browser's side of the WebAuthn ceremonies in src/web/passkeys.rs. Served as a
// file (the Content-Security-Policy allows no inline script); it wires up whichever of these
// buttons the page has:
//   #passkey-register       add a passkey (account page, or enrolment during a sign-in)
//   #passkey-second-factor  a passkey as the second step of a sign-in
//   #passkey-login          sign in with a passkey alone (login page)
// Each button carries the page's CSRF token and where to go next in data- attributes.
(function () {
  "use strict";

  function b64uToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function bufToB64u(buf) {
    var bytes = buf instanceof ArrayBuffer ? new Uint8Array(buf)
      : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function createOptions(server) {
    var pk = server.publicKey;
    pk.challenge = b64uToBuf(pk.challenge);
    pk.user.id = b64uToBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = b64uToBuf(c.id); });
    return { publicKey: pk };
  }

  function getOptions(server) {
    var pk = server.publicKey;
    pk.challenge = b64uToBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = b64uToBuf(c.id); });
    return { publicKey: pk };
  }

  function registrationJSON(c) {
    return {
      id: c.id, rawId: bufToB64u(c.rawId), type: c.type,
      response: {
        attestationObject: bufToB64u(c.response.attestationObject),
        clientDataJSON: bufToB64u(c.response.clientDataJSON),
        transports: c.response.getTransports ? c.response.getTransports() : undefined
      },
      clientExtensionResults: c.getClientExtensionResults()
    };
  }

  function assertionJSON(c) {
    var r = c.response;
    return {
      id: c.id, rawId: bufToB64u(c.rawId), type: c.type,
      response: {
        authenticatorData: bufToB64u(r.authenticatorData),
        clientDataJSON: bufToB64u(r.clientDataJSON),
        signature: bufToB64u(r.signature),
        userHandle: r.userHandle ? bufToB64u(r.userHandle) : null
      },
      clientExtensionResults: c.getClientExtensionResults()
    };
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) throw new Error(j.error_description || ("The server answered " + r.status + "."));
        return j;
      });
    });
  }

  function showError(err) {
    var p = document.getElementById("passkey-error");
    var message = err && err.name === "NotAllowedError"
      ? "The passkey prompt was closed or timed out. Try again."
      : (err && err.message) || "The passkey could not be used.";
    if (p) { p.textContent = message; p.hidden = false; }
    document.body.setAttribute("data-passkey", "error");
  }

  function done(j) {
    document.body.setAttribute("data-passkey", "done");
    window.location.assign(j.location);
  }

  function ceremony(button, begin, finish, mode, extra, browserStep, toJSON) {
    button.addEventListener("click", function () {
      var base = {
        csrf_token: button.getAttribute("data-csrf"),
        return_to: button.getAttribute("data-return-to") || undefined,
        mode: mode
      };
      button.disabled = true;
      document.body.setAttribute("data-passkey", "busy");
      post(begin, base).then(function (started) {
        return browserStep(started.options).then(function (cred) {
          var body = Object.assign({}, base, extra(), { ceremony: started.ceremony, credential: toJSON(cred) });
          return post(finish, body);
        });
      }).then(done).catch(showError).finally(function () { button.disabled = false; });
    });
  }

  if (!window.PublicKeyCredential) {
    ["passkey-register", "passkey-second-factor", "passkey-login"].forEach(function (id) {
      var b = document.getElementById(id);
      if (b) b.hidden = true;
    });
    return;
  }

  var register = document.getElementById("passkey-register");
  if (register) {
    ceremony(register, "/webauthn/register/begin", "/webauthn/register/finish",
      register.getAttribute("data-mode") || "account",
      function () {
        var name = document.getElementById("passkey-name");
        return { name: name ? name.value : "Passkey" };
      },
      function (options) { return navigator.credentials.create(createOptions(options)); },
      registrationJSON);
  }

  var second = document.getElementById("passkey-second-factor");
  if (second) {
    ceremony(second, "/webauthn/authenticate/begin", "/webauthn/authenticate/finish",
      "second_factor", function () { return {}; },
      function (options) { return navigator.credentials.get(getOptions(options)); },
      assertionJSON);
  }

  var login = document.getElementById("passkey-login");
  if (login) {
    ceremony(login, "/webauthn/authenticate/begin", "/webauthn/authenticate/finish",
      "passwordless", function () { return {}; },
      function (options) { return navigator.credentials.get(getOptions(options)); },
      assertionJSON);
  }
})();
