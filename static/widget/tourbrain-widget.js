/*
 * TourBrain Support widget: a help button and panel that files and follows support tickets.
 *
 * Embed (one script, one stylesheet next to it, no framework, nothing downloaded from elsewhere):
 *
 *   <script src="https://support.example/static/widget/tourbrain-widget.js" defer></script>
 *   TourBrainSupport.init({ apiBase: "https://support.example/api/v1/widget/", getToken: async () => token });
 *
 * getToken returns the end user's JWT (minted by the host application's backend). It is called on first
 * use and once more when the API answers 401 (e.g. token_expired); if the new token is refused too, the
 * panel says so and nothing is retried in a loop.
 *
 * The UI lives in a shadow root (the host page's CSS cannot reach it) and every piece of text from the
 * user or the server is set with textContent. A network error keeps what was typed; a retried ticket
 * submission reuses its Idempotency-Key, so the server files it once.
 */
(function () {
  "use strict";

  var SCRIPT = document.currentScript;
  var DEFAULT_CSS_URL = SCRIPT && SCRIPT.src ? new URL("tourbrain-widget.css", SCRIPT.src).href : null;
  var SUGGESTION_DELAY_MS = 350;
  var SUGGESTION_MIN_CHARS = 3;

  var TYPES = [
    ["bug", "Something is broken"],
    ["question", "A question"],
    ["feature_request", "A feature request"],
    ["billing", "Billing"],
  ];
  var PRIORITIES = [
    ["low", "Low"],
    ["medium", "Medium"],
    ["high", "High"],
    ["critical", "Critical (the app is unusable)"],
  ];
  var STATUS_LABELS = {
    new: "Received",
    open: "In progress",
    pending: "Waiting for your reply",
    on_hold: "On hold",
    solved: "Solved",
    closed: "Closed",
  };
  // What the API accepts by default (TICKET_ATTACHMENT_TYPES); the server has the last word.
  var ATTACHMENT_ACCEPT = "image/png,image/jpeg,image/gif,application/pdf,text/plain,text/csv,application/json,.csv,.json,.txt";
  var RATING_LABELS = ["", "1 - Very poor", "2 - Poor", "3 - Okay", "4 - Good", "5 - Excellent"];

  // --- small helpers ------------------------------------------------------------------------------

  /** Build an element. attrs: text (textContent), class, on<Event> (listener), anything else an attribute. */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = String(value);
      else if (key === "class") node.className = value;
      else if (key.slice(0, 2) === "on" && typeof value === "function") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    // Outside a secure context randomUUID is missing; build a v4 UUID from getRandomValues.
    var bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  /** Only http(s) links from the server become hrefs (no javascript: or data: URLs). */
  function safeHref(url, base) {
    try {
      var parsed = new URL(String(url), base);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (err) {
      return null;
    }
  }

  function withDraft(href, draftId) {
    if (!href) return href;
    var parsed = new URL(href);
    parsed.searchParams.set("draft", draftId);
    return parsed.href;
  }

  function formatTime(value) {
    if (!value) return "";
    var date = new Date(value);
    return isNaN(date.getTime()) ? "" : date.toLocaleString();
  }

  function listOf(data) {
    if (Array.isArray(data)) return data;
    if (data && Array.isArray(data.results)) return data.results;
    return [];
  }

  function fileSize(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return Math.round(bytes / 1024) + " KB";
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  /** A JSON body, or multipart (fields + "attachments") when files are attached. */
  function requestBody(fields, files) {
    if (!files || !files.length) return { body: fields };
    var data = new FormData();
    Object.keys(fields).forEach(function (key) { data.append(key, fields[key]); });
    Array.prototype.forEach.call(files, function (file) { data.append("attachments", file, file.name); });
    return { formData: data };
  }

  function browserInfo() {
    var parts = [navigator.userAgent, window.innerWidth + "x" + window.innerHeight, navigator.language];
    return parts.filter(Boolean).join(" | ").slice(0, 500);
  }

  function pageUrl() {
    var href = window.location.href;
    return /^https?:/.test(href) ? href.slice(0, 2000) : "";
  }

  // --- API client ---------------------------------------------------------------------------------

  /** kind: "network" (no answer), "auth" (token refused twice or getToken failed), "http" (an error answer). */
  function WidgetError(kind, message, details) {
    this.name = "WidgetError";
    this.kind = kind;
    this.message = message;
    details = details || {};
    this.status = details.status || 0;
    this.code = details.code || "";
    this.fields = details.fields || {};
  }
  WidgetError.prototype = Object.create(Error.prototype);

  function Api(apiBase, getToken) {
    this.base = apiBase.replace(/\/?$/, "/");
    this.getToken = getToken;
    this.tokenPromise = null; // the current token; calls made at the same time share one callback
    this.refusedToken = null; // the last token the API refused (one renewal per refused token)
    this.retired = false; // the current token was refused even after a renewal: the next action asks afresh
  }

  Api.prototype.askToken = function (refresh) {
    var self = this;
    var promise = Promise.resolve()
      .then(function () { return self.getToken({ refresh: refresh }); })
      .then(function (token) {
        if (!token || typeof token !== "string") throw new Error("no token");
        return token;
      })
      .catch(function () {
        if (self.tokenPromise === promise) self.tokenPromise = null; // the next call asks again
        throw new WidgetError("auth", "We could not confirm who you are. Please sign in again, then reopen help.");
      });
    this.tokenPromise = promise;
    return promise;
  };

  Api.prototype.currentToken = function () {
    if (!this.tokenPromise || this.retired) {
      this.retired = false;
      return this.askToken(false);
    }
    return this.tokenPromise;
  };

  /** A token was refused: the first call to notice asks for a new one, the others wait for that answer. */
  Api.prototype.renewToken = function (refused) {
    if (this.refusedToken !== refused) {
      this.refusedToken = refused;
      return this.askToken(true);
    }
    return this.tokenPromise || Promise.resolve(refused);
  };

  /** One API call. A 401 asks getToken for a new token once and repeats the call; a second 401 is final. */
  Api.prototype.request = async function (method, path, options) {
    options = options || {};
    var token = await this.currentToken();
    for (var attempt = 0; ; attempt++) {
      var headers = { Accept: "application/json", Authorization: "Bearer " + token };
      // multipart bodies get their Content-Type (with the boundary) from the browser
      if (options.body !== undefined) headers["Content-Type"] = "application/json";
      if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
      var response;
      try {
        response = await fetch(this.base + path, {
          method: method,
          headers: headers,
          body: options.formData || (options.body === undefined ? undefined : JSON.stringify(options.body)),
          credentials: "omit",
          cache: "no-store",
          signal: options.signal,
        });
      } catch (err) {
        if (err && err.name === "AbortError") throw err;
        throw new WidgetError("network", "We could not reach TourBrain Support. Check your connection and try again.");
      }
      if (response.ok && options.blob) return await response.blob();
      var data = null;
      try {
        data = response.status === 204 ? null : await response.json();
      } catch (err) {
        data = null;
      }
      if (response.ok) return data;
      var error = (data && data.error) || {};
      if (response.status === 401) {
        if (attempt === 0) {
          var renewed = await this.renewToken(token);
          if (renewed !== token) {
            token = renewed;
            continue;
          }
        }
        // Refused again: say so; the next action asks the callback afresh (the user may have signed in since).
        this.retired = true;
        var expired = error.code === "token_expired";
        throw new WidgetError(
          "auth",
          expired
            ? "Your session has expired. Please reload the page or sign in again to contact support."
            : "We could not confirm who you are. Please reload the page or sign in again to contact support.",
          { status: 401, code: error.code }
        );
      }
      var message = error.message || "Something went wrong (" + response.status + "). Please try again.";
      if (response.status === 429) {
        var wait = response.headers.get("Retry-After");
        message = "Too many requests. Please try again" + (wait ? " in " + wait + " seconds." : " shortly.");
      }
      throw new WidgetError("http", message, { status: response.status, code: error.code, fields: error.fields });
    }
  };

  // --- the widget ---------------------------------------------------------------------------------

  function Widget(options) {
    if (!options || typeof options.getToken !== "function" || !options.apiBase) {
      throw new Error("TourBrainSupport.init needs { apiBase, getToken }");
    }
    this.options = options;
    this.api = new Api(options.apiBase, options.getToken);
    this.cssUrl = options.cssUrl || DEFAULT_CSS_URL;
    this.tickets = [];
    this.current = null; // the ticket shown in the conversation view
    this.pendingSubmission = null; // { key, payload } of a ticket submission not yet answered
    // The draft a suggestion was opened from: the help center counts a deflection once per person and draft.
    this.draftId = uuid();
    this.suggestionTimer = null;
    this.suggestionAbort = null;
    this.onKeydown = this.onKeydown.bind(this);
    this.build();
  }

  Widget.prototype.build = function () {
    var self = this;
    // An element name the host page has no rules for; its styles come only from :host in the shadow CSS.
    this.host = el("tourbrain-support", { "data-tourbrain-support": "" });
    this.root = this.host.attachShadow({ mode: "open" });
    this.frame = el("div", { class: "tbw", hidden: true });
    if (this.cssUrl) {
      var link = el("link", { rel: "stylesheet", href: this.cssUrl });
      // Shown once styled, so the page never flashes an unstyled panel.
      link.addEventListener("load", function () { self.frame.hidden = false; });
      link.addEventListener("error", function () { self.frame.hidden = false; });
      this.root.appendChild(link);
    } else {
      this.frame.hidden = false;
    }

    this.launcher = el("button", {
      type: "button",
      class: "tbw-launcher",
      "aria-haspopup": "dialog",
      "aria-expanded": "false",
      "aria-controls": "tbw-panel",
      "data-testid": "launcher",
      onclick: function () { self.panel.hidden ? self.open() : self.close(); },
    }, [el("span", { class: "tbw-launcher-icon", "aria-hidden": "true", text: "?" }), el("span", { text: "Help" })]);
    this.launcherBadge = el("span", { class: "tbw-badge", hidden: true, "data-testid": "launcher-unread" });
    this.launcher.appendChild(this.launcherBadge);

    this.title = el("h2", { id: "tbw-title", class: "tbw-title", text: this.options.title || "TourBrain Support" });
    this.closeButton = el("button", {
      type: "button", class: "tbw-close", "aria-label": "Close support panel", text: "\u00d7",
      onclick: function () { self.close(); },
    });
    this.newTab = el("button", {
      type: "button", class: "tbw-tab", "aria-pressed": "true", "data-testid": "tab-new", text: "New request",
      onclick: function () { self.showView("new"); },
    });
    this.listBadge = el("span", { class: "tbw-badge", hidden: true, "data-testid": "list-unread" });
    this.listTab = el("button", {
      type: "button", class: "tbw-tab", "aria-pressed": "false", "data-testid": "tab-list",
      onclick: function () { self.showList(); },
    }, [el("span", { text: "My requests" }), this.listBadge]);
    this.alert = el("div", { class: "tbw-alert", role: "alert", hidden: true, "data-testid": "alert" });

    this.views = {
      new: this.buildNewView(),
      done: el("section", { class: "tbw-view", hidden: true, "data-testid": "view-done", tabindex: "-1" }),
      list: el("section", { class: "tbw-view", hidden: true, "data-testid": "view-list", "aria-labelledby": "tbw-list-title" }),
      detail: el("section", { class: "tbw-view", hidden: true, "data-testid": "view-detail" }),
    };

    // A firing maintenance alert (e.g. sign-in provider down): read without a token, so it shows when sign-in fails.
    this.maintenanceBanner = el("p", {
      class: "tbw-hint tbw-maintenance", role: "status", "data-testid": "maintenance-banner", hidden: true,
    });
    this.panel = el("div", {
      id: "tbw-panel", class: "tbw-panel", role: "dialog", "aria-modal": "true", "aria-labelledby": "tbw-title",
      hidden: true, "data-testid": "panel",
    }, [
      el("header", { class: "tbw-header" }, [this.title, this.closeButton]),
      el("nav", { class: "tbw-tabs", "aria-label": "Support" }, [this.newTab, this.listTab]),
      this.maintenanceBanner,
      this.alert,
      el("div", { class: "tbw-body" }, [this.views.new, this.views.done, this.views.list, this.views.detail]),
    ]);
    this.frame.addEventListener("keydown", this.onKeydown);

    this.frame.appendChild(this.launcher);
    this.frame.appendChild(this.panel);
    this.root.appendChild(this.frame);
    document.body.appendChild(this.host);
    this.refreshUnread();
  };

  /** An API call that remembers whether the user's identity was last refused (reported when the panel opens). */
  Widget.prototype.call = function (method, path, options) {
    var self = this;
    return this.api.request(method, path, options).then(
      function (data) {
        self.authError = null;
        return data;
      },
      function (err) {
        if (err && err.kind === "auth") self.authError = err;
        throw err;
      }
    );
  };

  Widget.prototype.field = function (id, labelText, control, hint) {
    var hintNode = hint ? el("p", { class: "tbw-hint", id: id + "-hint", text: hint }) : null;
    var errorNode = el("p", { class: "tbw-field-error", id: id + "-error", hidden: true });
    control.id = id;
    var described = [hintNode ? id + "-hint" : null, id + "-error"].filter(Boolean).join(" ");
    control.setAttribute("aria-describedby", described);
    return el("div", { class: "tbw-field", "data-field": id.replace(/^tbw-/, "") }, [
      el("label", { for: id, text: labelText }), hintNode, control, errorNode,
    ]);
  };

  Widget.prototype.buildNewView = function () {
    var self = this;
    function select(name, choices, initial) {
      var node = el("select", { name: name });
      choices.forEach(function (choice) {
        var option = el("option", { value: choice[0], text: choice[1] });
        if (choice[0] === initial) option.selected = true;
        node.appendChild(option);
      });
      return node;
    }
    this.form = {
      type: select("type", TYPES, "bug"),
      priority: select("priority", PRIORITIES, "medium"),
      description: el("textarea", { name: "description", rows: "4", required: true, maxlength: "50000" }),
      reproduction_steps: el("textarea", { name: "reproduction_steps", rows: "3", maxlength: "20000" }),
      attachments: el("input", { type: "file", name: "attachments", multiple: true, accept: ATTACHMENT_ACCEPT }),
    };
    this.form.description.addEventListener("input", function () { self.queueSuggestions(); });
    this.form.priority.addEventListener("change", function () { self.showPromise(); });
    this.promise = el("p", { class: "tbw-hint", "data-testid": "promise", hidden: true });
    // Open public incidents (the status page's), so someone filing about an outage knows we know.
    this.statusBanner = el("p", { class: "tbw-hint", role: "status", "data-testid": "status-banner", hidden: true });

    this.suggestionList = el("ul", { class: "tbw-suggestion-list" });
    this.suggestions = el("section", {
      class: "tbw-suggestions", hidden: true, "aria-live": "polite", "data-testid": "suggestions", "data-state": "idle",
      "aria-label": "Articles that may help",
    }, [el("h3", { class: "tbw-subtitle", text: "Articles that may help" }), this.suggestionList]);

    this.submitButton = el("button", { type: "submit", class: "tbw-primary", "data-testid": "submit", text: "Send request" });
    this.retryNote = el("p", { class: "tbw-retry-note", hidden: true, "data-testid": "retry-note" });
    var form = el("form", { class: "tbw-form", novalidate: true, "data-testid": "new-form" }, [
      this.statusBanner,
      this.field("tbw-type", "What is it about?", this.form.type),
      this.field("tbw-priority", "How urgent is it?", this.form.priority),
      this.promise,
      this.field("tbw-description", "Describe the problem or question", this.form.description),
      this.suggestions,
      this.field("tbw-reproduction_steps", "Steps to reproduce (optional)", this.form.reproduction_steps,
        "For example: 1. Open the tour  2. Click Export  3. The PDF is blank"),
      this.field("tbw-attachments", "Attach files (optional)", this.form.attachments,
        "Screenshots, PDF, text, CSV or JSON files."),
      el("p", { class: "tbw-hint", text: "Your browser details and the address of this page are sent with your request." }),
      this.retryNote,
      el("div", { class: "tbw-actions" }, [this.submitButton]),
    ]);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      self.submitTicket();
    });
    this.newForm = form;
    // The NPS survey, when the customer has one to answer (filled in by loadNps).
    this.npsSlot = el("div", { "data-testid": "nps-slot" });
    return el("section", { class: "tbw-view", "data-testid": "view-new" }, [this.npsSlot, form]);
  };

  // --- open, close, keyboard ----------------------------------------------------------------------

  Widget.prototype.open = function () {
    this.panel.hidden = false;
    this.launcher.setAttribute("aria-expanded", "true");
    if (this.currentView === "list" || this.currentView === "detail") {
      this.showList();
      this.listTab.focus();
    } else if (this.currentView === "done") {
      this.showView("done");
      this.views.done.focus();
    } else {
      this.showView("new");
      this.form.type.focus();
    }
    // A refused identity is reported as it is; the next explicit action asks for a token again.
    this.loadMaintenance();
    if (this.authError) this.showAlert(this.authError.message);
    else this.loadProfile();
  };

  /** The maintenance notices of firing alerts, from the public status/ endpoint (no token: sign-in may be down). */
  Widget.prototype.loadMaintenance = async function () {
    try {
      var response = await fetch(this.api.base + "status/", {
        headers: { Accept: "application/json" }, credentials: "omit", cache: "no-store",
      });
      if (!response.ok) return;
      this.showMaintenance(((await response.json()) || {}).maintenance);
    } catch (err) {
      // The banner is a courtesy: without it the widget works the same.
    }
  };

  Widget.prototype.showMaintenance = function (notices) {
    notices = notices || [];
    this.maintenanceBanner.textContent = notices.map(function (row) { return row.message; }).join(" ");
    this.maintenanceBanner.hidden = !this.maintenanceBanner.textContent;
  };

  Widget.prototype.close = function () {
    this.panel.hidden = true;
    this.launcher.setAttribute("aria-expanded", "false");
    this.launcher.focus();
  };

  Widget.prototype.focusables = function () {
    var selector = "button, [href], input, select, textarea, [tabindex]:not([tabindex='-1'])";
    return Array.prototype.filter.call(this.panel.querySelectorAll(selector), function (node) {
      return !node.disabled && node.getClientRects().length > 0;
    });
  };

  Widget.prototype.onKeydown = function (event) {
    if (this.panel.hidden) return;
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      this.close();
      return;
    }
    if (event.key !== "Tab") return;
    // Focus trap: Tab past the last control wraps to the first, Shift+Tab before the first to the last.
    var items = this.focusables();
    if (!items.length) return;
    var active = this.root.activeElement;
    var index = items.indexOf(active);
    if (event.shiftKey && (index <= 0)) {
      event.preventDefault();
      items[items.length - 1].focus();
    } else if (!event.shiftKey && (index === -1 || index === items.length - 1)) {
      event.preventDefault();
      items[0].focus();
    }
  };

  Widget.prototype.showView = function (name) {
    var self = this;
    this.currentView = name;
    Object.keys(this.views).forEach(function (key) { self.views[key].hidden = key !== name; });
    this.newTab.setAttribute("aria-pressed", String(name === "new"));
    this.listTab.setAttribute("aria-pressed", String(name === "list" || name === "detail"));
    if (name !== "detail") this.current = null;
  };

  Widget.prototype.showAlert = function (message, retry) {
    clear(this.alert);
    if (!message) {
      this.alert.hidden = true;
      return;
    }
    this.alert.appendChild(el("span", { text: message }));
    if (retry) {
      this.alert.appendChild(el("button", { type: "button", class: "tbw-link", text: "Try again", onclick: retry }));
    }
    this.alert.hidden = false;
  };

  /** The first-response promise for the chosen priority, from me/ (fetched once, when the panel first opens). */
  Widget.prototype.loadProfile = async function () {
    if (this.profile) return;
    try {
      this.profile = await this.call("GET", "me/");
      this.showPromise();
      this.showStatus();
      this.showMaintenance(this.profile && this.profile.maintenance);
    } catch (err) {
      this.profile = null; // the promise is a courtesy: without it the form works the same
    }
    this.loadNps();
  };

  /** Ask the NPS survey (0-10 and why) once per page view when the customer has one open or due. */
  Widget.prototype.loadNps = async function () {
    if (this.npsAsked) return;
    this.npsAsked = true;
    try {
      var offer = await this.call("GET", "nps/");
      if (offer && offer.offered) this.npsSlot.appendChild(this.buildNpsForm(offer.question));
    } catch (err) {
      this.npsAsked = false; // asked again the next time the panel opens
    }
  };

  Widget.prototype.buildNpsForm = function (question) {
    var self = this;
    var scores = el("div", { class: "tbw-nps-scores" });
    for (var score = 0; score <= 10; score++) {
      scores.appendChild(el("span", { class: "tbw-nps-choice" }, [
        el("input", { type: "radio", name: "nps", value: String(score), id: "tbw-nps-" + score }),
        el("label", { for: "tbw-nps-" + score, text: String(score) }),
      ]));
    }
    var ends = el("p", { class: "tbw-hint", text: "0 = not at all likely, 10 = extremely likely" });
    var why = el("textarea", { name: "why", rows: "2", maxlength: "5000" });
    var error = el("p", { class: "tbw-field-error", id: "tbw-nps-error", hidden: true });
    var status = el("p", { class: "tbw-hint", role: "status", "data-testid": "nps-status" });
    var section;
    var form = el("form", { class: "tbw-form", novalidate: true, "data-testid": "nps-form" }, [
      el("fieldset", { "aria-describedby": "tbw-nps-error" }, [el("legend", { text: question }), scores, ends, error]),
      this.field("tbw-nps-why", "Why? (optional)", why),
      el("div", { class: "tbw-actions" }, [
        el("button", { type: "submit", class: "tbw-primary", text: "Send answer" }),
        el("button", { type: "button", class: "tbw-secondary", text: "Not now", onclick: function () {
          section.hidden = true;
          self.form.type.focus();
        } }),
      ]),
    ]);
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      self.showAlert(null);
      var checked = form.querySelector("input[name=nps]:checked");
      if (!checked) {
        error.textContent = "Please choose a score from 0 to 10.";
        error.hidden = false;
        form.querySelector("input[name=nps]").focus();
        return;
      }
      error.hidden = true;
      try {
        var saved = await self.call("POST", "nps/", { body: { score: Number(checked.value), comment: why.value } });
        clear(section);
        section.appendChild(el("p", { class: "tbw-hint", role: "status", "data-testid": "nps-status",
          text: "Thank you! You answered " + saved.score + " out of 10." }));
      } catch (err) {
        self.showAlert(err.message, err.kind === "network" ? function () { form.requestSubmit(); } : null);
      }
    });
    section = el("section", { class: "tbw-nps", "data-testid": "nps", "aria-label": "A quick question" }, [form, status]);
    return section;
  };

  Widget.prototype.showPromise = function () {
    var priority = this.form.priority.value;
    var promises = (this.profile && this.profile.sla_promise) || [];
    var match = promises.filter(function (row) { return row.priority === priority; })[0];
    this.promise.textContent = match && match.first_response ? "We aim to reply " + match.first_response + "." : "";
    this.promise.hidden = !this.promise.textContent;
  };

  Widget.prototype.showStatus = function () {
    var incidents = (this.profile && this.profile.status_banner) || [];
    this.statusBanner.textContent = incidents.length
      ? "Known issue: " + incidents.map(function (row) { return row.title; }).join("; ") + ". We are working on it."
      : "";
    this.statusBanner.hidden = !this.statusBanner.textContent;
  };

  // --- suggestions --------------------------------------------------------------------------------

  Widget.prototype.queueSuggestions = function () {
    var self = this;
    clearTimeout(this.suggestionTimer);
    this.suggestionTimer = setTimeout(function () { self.loadSuggestions(); }, SUGGESTION_DELAY_MS);
  };

  Widget.prototype.loadSuggestions = async function () {
    var query = this.form.description.value.trim().slice(0, 200);
    if (this.suggestionAbort) this.suggestionAbort.abort();
    if (query.length < SUGGESTION_MIN_CHARS) {
      this.renderSuggestions([], "idle");
      return;
    }
    var abort = new AbortController();
    this.suggestionAbort = abort;
    this.suggestions.setAttribute("data-state", "loading");
    try {
      var data = await this.call("GET", "suggestions/?q=" + encodeURIComponent(query), { signal: abort.signal });
      if (abort.signal.aborted) return;
      var items = listOf(data);
      this.renderSuggestions(items, items.length ? "results" : "empty");
    } catch (err) {
      if (err && err.name === "AbortError") return;
      // Suggestions are a help, not a step: a failure hides them and never blocks the form.
      this.renderSuggestions([], "error");
    }
  };

  Widget.prototype.renderSuggestions = function (items, state) {
    var self = this;
    clear(this.suggestionList);
    items.slice(0, 5).forEach(function (item) {
      var href = withDraft(safeHref(item.url, self.api.base), self.draftId);
      var title = el(href ? "a" : "span", { href: href, target: href ? "_blank" : null, rel: href ? "noopener" : null,
        text: item.title || "" });
      var excerpt = item.excerpt || item.summary || "";
      self.suggestionList.appendChild(el("li", { "data-testid": "suggestion" }, [
        title, excerpt ? el("p", { class: "tbw-hint", text: excerpt }) : null,
      ]));
    });
    this.suggestions.hidden = items.length === 0;
    this.suggestions.setAttribute("data-state", state);
  };

  // --- filing a ticket ----------------------------------------------------------------------------

  Widget.prototype.clearFieldErrors = function () {
    var self = this;
    Object.keys(this.form).forEach(function (name) {
      self.form[name].removeAttribute("aria-invalid");
      var error = self.root.getElementById("tbw-" + name + "-error");
      if (error) {
        error.hidden = true;
        clear(error);
      }
    });
  };

  Widget.prototype.showFieldErrors = function (fields) {
    var self = this;
    var first = null;
    Object.keys(fields || {}).forEach(function (name) {
      var control = self.form[name];
      var error = self.root.getElementById("tbw-" + name + "-error");
      if (!control || !error) return;
      var messages = [].concat(fields[name]).join(" ");
      control.setAttribute("aria-invalid", "true");
      error.textContent = messages;
      error.hidden = false;
      first = first || control;
    });
    if (first) first.focus();
    return first !== null;
  };

  Widget.prototype.ticketPayload = function () {
    return {
      type: this.form.type.value,
      priority: this.form.priority.value,
      description: this.form.description.value,
      reproduction_steps: this.form.reproduction_steps.value,
      browser_info: browserInfo(),
      url: pageUrl(),
    };
  };

  Widget.prototype.submitTicket = async function () {
    if (this.submitting) return; // a second click while the first is on its way would only race it
    this.clearFieldErrors();
    this.showAlert(null);
    if (!this.form.description.value.trim()) {
      this.showFieldErrors({ description: ["Please describe the problem or question."] });
      return;
    }
    var payload = this.ticketPayload();
    var files = Array.prototype.slice.call(this.form.attachments.files || []);
    var typed = JSON.stringify([payload.type, payload.priority, payload.description, payload.reproduction_steps,
      files.map(function (file) { return [file.name, file.size, file.lastModified]; })]);
    // The same submission keeps its key and its exact body until it is answered, so a retry after a lost
    // answer is recognised by the server and files the ticket once.
    if (!this.pendingSubmission || this.pendingSubmission.typed !== typed) {
      this.pendingSubmission = { key: uuid(), typed: typed, payload: payload, files: files };
    }
    var body = requestBody(this.pendingSubmission.payload, this.pendingSubmission.files);
    var self = this;
    this.submitting = true;
    this.submitButton.disabled = true;
    this.submitButton.textContent = "Sending\u2026";
    try {
      var ticket = await this.call("POST", "tickets/", {
        body: body.body, formData: body.formData, idempotencyKey: this.pendingSubmission.key,
      });
      this.pendingSubmission = null;
      this.draftId = uuid();
      this.retryNote.hidden = true;
      this.newForm.reset();
      this.renderSuggestions([], "idle");
      this.showDone(ticket || {});
    } catch (err) {
      if (err.kind === "network") {
        this.retryNote.textContent = "Not sent yet. What you typed is kept; sending again will not create a duplicate.";
        this.retryNote.hidden = false;
        this.showAlert(err.message, function () { self.submitTicket(); });
      } else if (err.kind === "http" && err.status === 400 && this.showFieldErrors(err.fields)) {
        this.pendingSubmission = null;
        this.showAlert(err.message);
      } else {
        this.showAlert(err.message);
      }
    } finally {
      this.submitting = false;
      this.submitButton.disabled = false;
      this.submitButton.textContent = "Send request";
    }
  };

  Widget.prototype.showDone = function (ticket) {
    var self = this;
    var view = this.views.done;
    clear(view);
    var promise = ticket.first_response_promise || "";
    view.appendChild(el("h3", { class: "tbw-subtitle", text: "Thanks, we have your request" }));
    view.appendChild(el("p", {}, [
      "Your reference is ",
      el("strong", { "data-testid": "done-reference", text: ticket.reference || "" }),
      ".",
    ]));
    if (promise) view.appendChild(el("p", { "data-testid": "done-promise", text: "We will reply " + promise + "." }));
    view.appendChild(el("div", { class: "tbw-actions" }, [
      el("button", { type: "button", class: "tbw-primary", text: "See my requests", onclick: function () { self.showList(); } }),
      el("button", { type: "button", class: "tbw-secondary", text: "New request", onclick: function () { self.showView("new"); self.form.type.focus(); } }),
    ]));
    this.showView("done");
    view.focus();
  };

  // --- list ---------------------------------------------------------------------------------------

  function unreadCount(ticket) {
    return typeof ticket.unread_count === "number" ? ticket.unread_count : 0;
  }

  Widget.prototype.updateBadges = function () {
    var total = this.tickets.reduce(function (sum, ticket) { return sum + (unreadCount(ticket) > 0 ? 1 : 0); }, 0);
    [this.launcherBadge, this.listBadge].forEach(function (badge) {
      badge.textContent = total ? String(total) : "";
      badge.hidden = total === 0;
    });
    this.listBadge.setAttribute("aria-label", total + " with new replies");
    this.launcherBadge.setAttribute("aria-label", total + " requests with new replies");
  };

  /** On start: the launcher shows how many requests have replies the user has not read. */
  Widget.prototype.refreshUnread = async function () {
    try {
      this.tickets = listOf(await this.call("GET", "tickets/"));
      this.updateBadges();
      if (this.currentView === "list") this.renderList();
    } catch (err) {
      if (err.kind === "auth" && !this.panel.hidden) this.showAlert(err.message);
    }
  };

  Widget.prototype.showList = async function () {
    var self = this;
    this.showView("list");
    this.showAlert(null);
    var view = this.views.list;
    view.setAttribute("aria-busy", "true");
    try {
      var data = await this.call("GET", "tickets/");
      this.tickets = listOf(data);
      this.nextPage = data && data.next ? 2 : null;
      this.updateBadges();
      this.renderList();
    } catch (err) {
      this.showAlert(err.message, err.kind === "network" ? function () { self.showList(); } : null);
    } finally {
      view.removeAttribute("aria-busy");
    }
  };

  Widget.prototype.renderList = function () {
    var self = this;
    var view = this.views.list;
    clear(view);
    view.appendChild(el("h3", { id: "tbw-list-title", class: "tbw-subtitle", text: "My requests" }));
    if (!this.tickets.length) {
      view.appendChild(el("p", { class: "tbw-empty", "data-testid": "list-empty", text: "You have no requests yet." }));
      return;
    }
    var list = el("ul", { class: "tbw-ticket-list", "data-testid": "ticket-list" });
    this.tickets.forEach(function (ticket) {
      var unread = unreadCount(ticket);
      var button = el("button", {
        type: "button", class: "tbw-ticket", "data-reference": ticket.reference,
        onclick: function () { self.showDetail(ticket.reference); },
      }, [
        el("span", { class: "tbw-ticket-line" }, [
          el("span", { class: "tbw-ticket-ref", text: ticket.reference }),
          el("span", { class: "tbw-status tbw-status-" + String(ticket.status).replace(/[^a-z_]/g, ""),
            text: STATUS_LABELS[ticket.status] || ticket.status || "" }),
          unread ? el("span", { class: "tbw-unread", "data-testid": "unread", text: unread === 1 ? "New reply" : unread + " new replies" }) : null,
        ]),
        el("span", { class: "tbw-ticket-subject", text: ticket.subject || "" }),
      ]);
      list.appendChild(el("li", { "data-testid": "ticket-row", "data-reference": ticket.reference }, [button]));
    });
    view.appendChild(list);
    if (this.nextPage) {
      view.appendChild(el("div", { class: "tbw-actions tbw-more" }, [
        el("button", { type: "button", class: "tbw-secondary", "data-testid": "more", text: "Show older requests",
          onclick: function () { self.loadMore(); } }),
      ]));
    }
  };

  Widget.prototype.loadMore = async function () {
    var self = this;
    var count = this.tickets.length;
    try {
      var data = await this.call("GET", "tickets/?page=" + this.nextPage);
      this.tickets = this.tickets.concat(listOf(data));
      this.nextPage = data && data.next ? this.nextPage + 1 : null;
      this.renderList();
      // Keep the keyboard where the reader was: on the first of the older requests.
      var rows = this.views.list.querySelectorAll(".tbw-ticket");
      if (rows[count]) rows[count].focus();
    } catch (err) {
      this.showAlert(err.message, err.kind === "network" ? function () { self.loadMore(); } : null);
    }
  };

  // --- conversation -------------------------------------------------------------------------------

  Widget.prototype.showDetail = async function (reference) {
    var self = this;
    this.showAlert(null);
    try {
      var ticket = await this.call("GET", "tickets/" + encodeURIComponent(reference) + "/");
      this.renderDetail(ticket);
      this.showView("detail");
      this.current = ticket;
      this.views.detail.querySelector("h3").focus();
      // Opening the conversation marks its staff replies read; the badges follow.
      this.tickets.forEach(function (row) { if (row.reference === reference) row.unread_count = 0; });
      this.updateBadges();
    } catch (err) {
      this.showAlert(err.message, err.kind === "network" ? function () { self.showDetail(reference); } : null);
    }
  };

  function messageItem(message, viewer, widget, reference) {
    var staff = Boolean(message.from_staff);
    var name = message.author && message.author.name ? message.author.name : "";
    var author = staff ? name || "TourBrain Support" : name && name !== viewer ? name : "You";
    return el("li", { class: "tbw-message " + (staff ? "tbw-from-staff" : "tbw-from-me"), "data-testid": "message" }, [
      el("p", { class: "tbw-message-meta" }, [
        el("span", { class: "tbw-author", text: author }), " \u00b7 ", el("time", { text: formatTime(message.created_at) }),
      ]),
      el("p", { class: "tbw-message-body", text: message.body || "" }),
      (message.attachments || []).length ? el("ul", { class: "tbw-attachments", "data-testid": "attachments" },
        message.attachments.map(function (file) {
          return el("li", {}, [
            el("button", { type: "button", class: "tbw-link", text: file.name,
              "aria-label": "Download " + file.name + " (" + fileSize(file.size) + ")",
              onclick: function () { widget.download(reference, file); } }),
            " (" + fileSize(file.size) + ")",
          ]);
        })) : null,
    ]);
  }

  /** Files need the token too, so they are fetched here and handed to the browser as a download. */
  Widget.prototype.download = async function (reference, file) {
    var self = this;
    try {
      var blob = await this.call("GET", "tickets/" + encodeURIComponent(reference) + "/attachments/" + file.id + "/", { blob: true });
      var url = URL.createObjectURL(blob);
      var link = el("a", { href: url, download: file.name, hidden: true });
      this.root.appendChild(link);
      link.click();
      link.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
    } catch (err) {
      this.showAlert(err.message, err.kind === "network" ? function () { self.download(reference, file); } : null);
    }
  };

  Widget.prototype.renderDetail = function (ticket) {
    var self = this;
    var view = this.views.detail;
    clear(view);
    view.setAttribute("data-reference", ticket.reference);
    view.appendChild(el("button", { type: "button", class: "tbw-link", text: "\u2190 All requests", onclick: function () { self.showList(); } }));
    view.appendChild(el("h3", { class: "tbw-subtitle", tabindex: "-1", "data-testid": "detail-subject" }, [
      el("span", { class: "tbw-ticket-ref", text: ticket.reference }), " ", ticket.subject || "",
    ]));
    view.appendChild(el("p", {}, [
      "Status: ",
      el("span", { "data-testid": "detail-status", text: STATUS_LABELS[ticket.status] || ticket.status || "" }),
    ]));

    var conversation = el("ol", { class: "tbw-conversation", "data-testid": "conversation" });
    conversation.appendChild(messageItem({ body: ticket.description, created_at: ticket.created_at }, ticket.requester));
    if (ticket.reproduction_steps) {
      conversation.appendChild(el("li", { class: "tbw-message tbw-from-me", "data-testid": "steps" }, [
        el("p", { class: "tbw-message-meta", text: "Steps to reproduce" }),
        el("p", { class: "tbw-message-body", text: ticket.reproduction_steps }),
      ]));
    }
    (ticket.messages || []).forEach(function (message) {
      conversation.appendChild(messageItem(message, ticket.requester, self, ticket.reference));
    });
    view.appendChild(conversation);

    if (ticket.status !== "closed") view.appendChild(this.buildReplyForm(ticket));
    if (ticket.can_rate) {
      view.appendChild(this.buildRatingForm(ticket));
    } else if (ticket.rating) {
      view.appendChild(el("p", { class: "tbw-rate", "data-testid": "rating-status",
        text: "You rated this " + ticket.rating.score + " out of 5." }));
    }
  };

  Widget.prototype.buildReplyForm = function (ticket) {
    var self = this;
    var body = el("textarea", { name: "body", rows: "3", maxlength: "20000" });
    var files = el("input", { type: "file", name: "attachments", multiple: true, accept: ATTACHMENT_ACCEPT });
    var button = el("button", { type: "submit", class: "tbw-primary", text: ticket.status === "solved" ? "Reopen and send" : "Send reply" });
    var form = el("form", { class: "tbw-form", novalidate: true, "data-testid": "reply-form" }, [
      this.field("tbw-reply", "Your reply", body),
      this.field("tbw-reply-attachments", "Add files (optional)", files),
      el("div", { class: "tbw-actions" }, [button]),
    ]);
    var pendingReply = null; // { key, typed } of a reply sent but not answered yet
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      self.showAlert(null);
      if (!body.value.trim()) {
        self.showInlineError("tbw-reply", body, "Please write a reply.");
        return;
      }
      button.disabled = true;
      // Like a new ticket: the same reply keeps its key until answered, so a retry after a lost answer
      // is recognised by the server and adds the message once.
      var chosen = Array.prototype.slice.call(files.files || []);
      var typed = JSON.stringify([body.value, chosen.map(function (file) { return [file.name, file.size, file.lastModified]; })]);
      if (!pendingReply || pendingReply.typed !== typed) pendingReply = { key: uuid(), typed: typed };
      try {
        var reply = requestBody({ body: body.value }, files.files);
        reply.idempotencyKey = pendingReply.key;
        var updated = await self.call("POST", "tickets/" + encodeURIComponent(ticket.reference) + "/messages/", reply);
        pendingReply = null;
        self.renderDetail(updated);
        self.current = updated;
        self.views.detail.querySelector("h3").focus();
      } catch (err) {
        // The text stays in the box; the alert offers to send it again.
        self.showAlert(err.message, err.kind === "network" ? function () { form.requestSubmit(); } : null);
        if (err.kind === "http" && err.fields && err.fields.body) self.showInlineError("tbw-reply", body, [].concat(err.fields.body).join(" "));
        if (err.kind === "http" && err.fields && err.fields.attachments) {
          self.showInlineError("tbw-reply-attachments", files, [].concat(err.fields.attachments).join(" "));
        }
      } finally {
        button.disabled = false;
      }
    });
    return form;
  };

  Widget.prototype.showInlineError = function (id, control, message) {
    var error = this.root.getElementById(id + "-error");
    control.setAttribute("aria-invalid", "true");
    error.textContent = message;
    error.hidden = false;
    control.focus();
  };

  Widget.prototype.buildRatingForm = function (ticket) {
    var self = this;
    var existing = ticket.rating || null;
    var radios = el("div", { class: "tbw-rating" });
    for (var score = 1; score <= 5; score++) {
      var input = el("input", { type: "radio", name: "rating", value: String(score), id: "tbw-rating-" + score });
      if (existing && Number(existing.score) === score) input.checked = true;
      radios.appendChild(el("span", { class: "tbw-rating-choice" }, [
        input, el("label", { for: "tbw-rating-" + score, text: RATING_LABELS[score] }),
      ]));
    }
    var comment = el("textarea", { name: "comment", rows: "2", maxlength: "2000" });
    comment.value = existing && existing.comment ? existing.comment : "";
    var status = el("p", { class: "tbw-hint", role: "status", "data-testid": "rating-status" });
    if (existing) status.textContent = "You rated this " + existing.score + " out of 5. You can change your rating.";
    var error = el("p", { class: "tbw-field-error", id: "tbw-rating-error", hidden: true });
    var form = el("form", { class: "tbw-form", novalidate: true, "data-testid": "rating-form" }, [
      el("fieldset", { "aria-describedby": "tbw-rating-error" }, [
        el("legend", { text: "How did we do?" }), radios, error,
      ]),
      this.field("tbw-rating-comment", "Comment (optional)", comment),
      status,
      el("div", { class: "tbw-actions" }, [el("button", { type: "submit", class: "tbw-primary", text: existing ? "Update rating" : "Send rating" })]),
    ]);
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      self.showAlert(null);
      var checked = form.querySelector("input[name=rating]:checked");
      if (!checked) {
        error.textContent = "Please choose a rating from 1 to 5.";
        error.hidden = false;
        form.querySelector("input[name=rating]").focus();
        return;
      }
      error.hidden = true;
      try {
        var saved = await self.call("POST", "tickets/" + encodeURIComponent(ticket.reference) + "/satisfaction/", {
          body: { score: Number(checked.value), comment: comment.value },
        });
        status.textContent = "Thanks! You rated this " + saved.score + " out of 5.";
      } catch (err) {
        self.showAlert(err.message, err.kind === "network" ? function () { form.requestSubmit(); } : null);
      }
    });
    return el("section", { class: "tbw-rate", "data-testid": "rate" }, [form]);
  };

  Widget.prototype.destroy = function () {
    clearTimeout(this.suggestionTimer);
    if (this.suggestionAbort) this.suggestionAbort.abort();
    if (this.host.parentNode) this.host.parentNode.removeChild(this.host);
  };

  // --- public API ---------------------------------------------------------------------------------

  var instance = null;
  window.TourBrainSupport = {
    /** Mount the help button (replacing an earlier one). Returns the widget. */
    init: function (options) {
      if (instance) instance.destroy();
      if (!document.body) {
        // Included in <head> without defer: mount once the body exists.
        document.addEventListener("DOMContentLoaded", function () { window.TourBrainSupport.init(options); }, { once: true });
        return null;
      }
      instance = new Widget(options);
      return instance;
    },
    open: function () { if (instance) instance.open(); },
    close: function () { if (instance) instance.close(); },
    destroy: function () {
      if (instance) instance.destroy();
      instance = null;
    },
  };
})();
