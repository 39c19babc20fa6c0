// A person's browser played by fetch: a cookie jar, redirects followed by hand (so the test sees
// each one), and the HTML forms of Ostiary's pages read generically (login, consent). Used by the
// conformance modules (conformance.mjs); the older scripts keep their own copy.

export function check(cond, message) {
  if (!cond) throw new Error(message);
}

// Character references as askama writes them (`&#38;`, `&#x27;`) and the named ones.
export function unescapeHtml(s) {
  const named = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
  return s.replace(/&(?:#(\d+)|#[xX]([0-9a-fA-F]+)|([a-zA-Z]+));/g, (whole, dec, hex, name) => {
    if (dec) return String.fromCodePoint(Number(dec));
    if (hex) return String.fromCodePoint(parseInt(hex, 16));
    return named[name.toLowerCase()] ?? whole;
  });
}

function attributes(tag) {
  const attrs = {};
  for (const m of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    attrs[m[1].toLowerCase()] = unescapeHtml(m[2] ?? m[3] ?? m[4] ?? "");
  }
  return attrs;
}

// The POST forms of a page: action, hidden and text inputs with their values, named buttons,
// and whether the form asks for a password.
export function postForms(html) {
  const forms = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const a = attributes(m[1]);
    if ((a.method || "get").toLowerCase() !== "post") continue;
    const form = { action: a.action ?? "", inputs: {}, buttons: [], password: false };
    for (const t of m[2].matchAll(/<(input|button)\b([^>]*)>/gi)) {
      const ta = attributes(t[2]);
      if (t[1].toLowerCase() === "input" && ta.type === "password") form.password = true;
      if (t[1].toLowerCase() === "button" || ta.type === "submit") {
        if (ta.name) form.buttons.push([ta.name, ta.value ?? ""]);
      } else if (ta.name) {
        form.inputs[ta.name] = ta.value ?? "";
      }
    }
    forms.push(form);
  }
  return forms;
}

export class Browser {
  constructor(issuer) {
    this.origin = new URL(issuer).origin;
    this.jar = new Map();
  }

  storeCookies(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => {
        const [k, v] = a.split("=").map((s) => s.trim().toLowerCase());
        return (k === "max-age" && Number(v) <= 0) || (k === "expires" && Date.parse(v) < Date.now());
      });
      if (expired || value === "") this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  async browse(url, { method = "GET", form } = {}) {
    const headers = { accept: "text/html" };
    if (this.jar.size) headers.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join("; ");
    let body;
    if (form) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(url, { method, headers, body, redirect: "manual" });
    this.storeCookies(res);
    return res;
  }

  // Plays the person from `url` until the server sends the browser to `redirectUri`: logs in
  // with `user` when a password form comes, allows on a consent form. Returns the callback URL
  // and what it went through (`pages`: "login", "consent"). `first` answers the first request
  // (a POST to the authorization endpoint, say); otherwise it is a GET of `url`. A response by
  // form post (a page whose form goes to `redirectUri`) is returned as `formPost` (the fields
  // the browser would post) with `callback` carrying the same fields for reading.
  async play(url, redirectUri, user, { first } = {}) {
    let res = first ?? (await this.browse(url));
    const pages = [];
    const seen = [];
    for (let step = 0; step < 10; step++) {
      seen.push(`${res.status} ${url}`);
      if ([301, 302, 303, 307, 308].includes(res.status)) {
        const target = new URL(res.headers.get("location"), url).href;
        if (target.startsWith(redirectUri)) return { callback: new URL(target), pages };
        url = target;
        check(new URL(url).origin === this.origin, `redirected off the server: ${url}`);
        res = await this.browse(url);
        continue;
      }
      const html = await res.text();
      check(res.status === 200, `unexpected ${res.status} at ${url}: ${html.replace(/\s+/g, " ").slice(0, 300)}`);
      const forms = postForms(html);
      check(forms.length > 0, `no form at ${url}: ${html.replace(/\s+/g, " ").slice(0, 300)}`);
      const form = forms[0];
      const action = new URL(form.action || url, url).href;
      if (action.startsWith(redirectUri)) {
        const callback = new URL(action);
        for (const [k, v] of Object.entries(form.inputs)) callback.searchParams.set(k, v);
        return { callback, pages, formPost: { action, fields: form.inputs, html } };
      }
      const data = { ...form.inputs };
      if (form.password) {
        pages.push("login");
        data.username = user.username;
        data.password = user.password;
      } else {
        const allow = form.buttons.find(([, v]) => ["allow", "accept", "authorize"].includes(v));
        check(allow, `no allow button in the form at ${url}: ${JSON.stringify(form)}`);
        pages.push("consent");
        data[allow[0]] = allow[1];
      }
      url = new URL(form.action || url, url).href;
      res = await this.browse(url, { method: "POST", form: data });
    }
    throw new Error(`the flow did not come back to the client: ${seen.join(" -> ")}`);
  }

  // What the server answered the client with, from one response: a redirect to `redirectUri`
  // (the parameters in its query) or a form-post page to it (the form's fields). `null` when
  // the response is neither (an error page, say).
  static async clientResponse(res, redirectUri) {
    if ([301, 302, 303, 307, 308].includes(res.status)) {
      const to = new URL(res.headers.get("location"), redirectUri);
      return to.href.startsWith(redirectUri) ? to : null;
    }
    if (res.status !== 200) return null;
    const form = postForms(await res.text())[0];
    if (!form || !new URL(form.action || "/", redirectUri).href.startsWith(redirectUri)) return null;
    const to = new URL(form.action);
    for (const [k, v] of Object.entries(form.inputs)) to.searchParams.set(k, v);
    return to;
  }
}
