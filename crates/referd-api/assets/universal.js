/*! referd universal.js: the PartneroJS-compatible tracking snippet (docs/tracking.md). */
(function (w, d) {
  "use strict";
  var name = w.__partnerObject || "po";
  var queued = w[name];
  if (queued && queued.referd) return;

  // referd's own origin: where this file came from, unless settings say otherwise.
  var script = d.currentScript;
  var own = "";
  try {
    if (script && script.src) own = new URL(script.src, w.location.href).origin;
  } catch (e) {}
  var s = { program: null, config: null, api: null, assets: null, waiting: [] };
  var CLICK_AT = "partnero_click_at";

  function host() {
    return s.api || own || s.assets || "";
  }
  function strip(u) {
    return typeof u === "string" ? u.replace(/\/+$/, "") : null;
  }
  function readCookie(n) {
    var parts = d.cookie ? d.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === n) {
        try {
          return decodeURIComponent(parts[i].slice(eq + 1));
        } catch (e) {
          return null;
        }
      }
    }
    return null;
  }
  function writeCookie(n, v, days) {
    var c = n + "=" + encodeURIComponent(v) + "; path=/; max-age=" + days * 86400 + "; SameSite=Lax";
    if (w.location.protocol === "https:") c += "; Secure";
    d.cookie = c;
  }
  function cookieName() {
    return s.config.type === "referral" ? "partnero_referral" : "partnero_partner";
  }
  // The key in the landing URL: `?ref=KEY` (the program's parameter) or `/aff/KEY`.
  function keyInUrl() {
    var c = s.config;
    var k = null;
    try {
      k = new URLSearchParams(w.location.search).get(c.param);
    } catch (e) {}
    if (!k) {
      var seg = w.location.pathname.split("/");
      var i = seg.indexOf(c.param);
      if (i >= 0 && seg[i + 1]) k = decodeURIComponent(seg[i + 1]);
    }
    return k || null;
  }
  function url(path) {
    return host() + "/t/" + encodeURIComponent(s.program) + path;
  }
  // text/plain keeps the request "simple": no CORS preflight before it.
  function post(path, body) {
    try {
      return w.fetch(url(path), {
        method: "POST",
        mode: "cors",
        credentials: "omit",
        keepalive: true,
        headers: { "Content-Type": "text/plain;charset=UTF-8" },
        body: body ? JSON.stringify(body) : ""
      });
    } catch (e) {
      return null;
    }
  }

  function track() {
    var key = keyInUrl();
    if (!key) return;
    var c = s.config;
    var old = readCookie(cookieName());
    // First click keeps the first key; last click (the default) takes the new one.
    if (!old || c.attribution !== "first_click" || old === key) {
      writeCookie(cookieName(), key, c.cookie_lifetime);
      writeCookie(CLICK_AT, Math.floor(Date.now() / 1000), c.cookie_lifetime);
    }
    post("/click?key=" + encodeURIComponent(key));
  }

  function signup(data) {
    data = (data && data.data) || data || {};
    if (!s.config) {
      s.waiting.push(data);
      return;
    }
    var at = parseInt(readCookie(CLICK_AT), 10);
    return post("/signup", {
      key: data.key || data.id || null,
      email: data.email || null,
      name: data.name || null,
      surname: data.surname || null,
      tags: data.tags || null,
      referral_key: readCookie(cookieName()) || keyInUrl(),
      clicked_at: isNaN(at) ? null : at
    });
  }

  // No-code: a submitted form with an email field signs its visitor up.
  function universal() {
    d.addEventListener(
      "submit",
      function (ev) {
        var f = ev.target;
        if (!f || !f.elements) return;
        var email = null, nm = null;
        for (var i = 0; i < f.elements.length; i++) {
          var el = f.elements[i];
          var id = ((el.name || "") + " " + (el.id || "") + " " + (el.type || "")).toLowerCase();
          if (!email && /email/.test(id) && el.value) email = el.value;
          else if (!nm && /name/.test(id) && !/user|last|sur/.test(id) && el.value) nm = el.value;
        }
        if (email) signup({ email: email, name: nm });
      },
      true
    );
  }

  // Seed 003's widget: the customer's referral link and a copy button (no stats: those are
  // private to the merchant's API key).
  function widget(o) {
    o = o || {};
    var box = typeof o.container === "string" ? d.querySelector(o.container) : o.container;
    var key = o.customer_key || o.key;
    if (!box || !key || !s.config || !s.config.link_base) return;
    var link = s.config.link_base + encodeURIComponent(key);
    var input = d.createElement("input");
    input.readOnly = true;
    input.value = link;
    input.className = "referd-referral-link";
    var btn = d.createElement("button");
    btn.type = "button";
    btn.textContent = "Copy";
    btn.onclick = function () {
      input.select();
      if (w.navigator.clipboard) w.navigator.clipboard.writeText(link);
    };
    box.innerHTML = "";
    box.appendChild(input);
    box.appendChild(btn);
  }

  function load(id) {
    s.program = id;
    w.fetch(url("/config"), { mode: "cors", credentials: "omit" })
      .then(function (r) {
        return r.json();
      })
      .then(function (j) {
        if (!j || !j.data) return;
        s.config = j.data;
        track();
        var waiting = s.waiting;
        s.waiting = [];
        for (var i = 0; i < waiting.length; i++) {
          if (waiting[i].widget) widget(waiting[i].widget);
          else signup(waiting[i]);
        }
      })
      .catch(function () {});
  }

  function run(args) {
    var a = Array.prototype.slice.call(args || []);
    switch (a[0]) {
      case "settings":
        if (a[1] === "assets_host") s.assets = strip(a[2]);
        if (a[1] === "api_host") s.api = strip(a[2]);
        break;
      case "program":
        if (a[2] === undefined || a[2] === "load") load(a[1]);
        break;
      case "customers":
      case "customer":
        if (a[1] === "signup" || a[1] === "create") return signup(a[2]);
        break;
      case "createCustomer":
        return signup(a[1]);
      case "integration":
        if (a[1] === "universal") universal();
        break;
      case "renderReferralWidget":
        if (s.config) widget(a[1]);
        else s.waiting.push({ widget: a[1] });
        break;
    }
  }

  // The loader queues `{a: arguments}` objects in `po.q`; older loaders queue arguments.
  var q = (queued && queued.q) || [];
  var api = function () {
    return run(arguments);
  };
  api.referd = true;
  api.q = [];
  w[name] = api;
  for (var i = 0; i < q.length; i++) run(q[i] && q[i].a ? q[i].a : q[i]);
})(window, document);
