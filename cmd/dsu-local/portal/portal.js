// The reference portal: plain JavaScript, no framework, no build step.
//
// Everything it shows comes from the API on the same origin (/v1, see
// docs/API.md), called with the token the local stack mints at
// POST /local/token. The only other local-only call is POST /local/simulate,
// which stands in for Stripe Elements: it plays the webhook event Stripe
// would send once a card was confirmed.
'use strict';

(() => {
  // ---------------------------------------------------------------- state

  const state = {
    partnerId: 'demo',
    admin: true,
    token: null,
    billing: null, // GET /v1/billing
    balance: null, // GET /v1/balance
    catalog: null, // GET /v1/packages
    cart: new Map(), // packageId → quantity
    attempt: null, // {key, body}: the purchase attempt a retry resends unchanged
    outcome: null, // the purchase shown under "Outcome"
    contactDirty: false,
    planDirty: false,
    inflight: 0,
  };

  const $ = (id) => document.getElementById(id);

  // el builds an element; attrs may hold properties (className, hidden,
  // onclick, …) and attributes (names with a dash, aria-*, data-*).
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.includes('-') || k === 'for' || k === 'scope' || k === 'role') node.setAttribute(k, v === true ? '' : v);
      else node[k] = v;
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  function setText(id, ...children) {
    const node = $(id);
    node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  }

  // ----------------------------------------------------------- formatting

  const numberFormat = new Intl.NumberFormat('en-US');
  const MINUS = '\u2212';

  function units(n) {
    const s = numberFormat.format(Math.abs(n));
    return `${n < 0 ? MINUS : ''}${s} ${Math.abs(n) === 1 ? 'DSU' : 'DSUs'}`;
  }

  function signedUnits(n) {
    return `${n > 0 ? '+' : n < 0 ? MINUS : ''}${numberFormat.format(Math.abs(n))}`;
  }

  function money(m) {
    if (!m) return '—';
    const f = new Intl.NumberFormat('en-US', { style: 'currency', currency: String(m.currency).toUpperCase() });
    // Minor units: both currencies have two decimals.
    return f.format(m.amount / 100);
  }

  function time(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  }

  function days(n) {
    return `${numberFormat.format(n)} ${n === 1 ? 'day' : 'days'}`;
  }

  const brands = { visa: 'Visa', mastercard: 'Mastercard', amex: 'American Express', discover: 'Discover', diners: 'Diners Club', jcb: 'JCB', unionpay: 'UnionPay' };

  function brandName(b) {
    return brands[b] || (b ? b[0].toUpperCase() + b.slice(1) : 'Card');
  }

  function cardText(c) {
    return `${brandName(c.brand)} •••• ${c.last4}, expires ${String(c.expMonth).padStart(2, '0')}/${c.expYear}`;
  }

  // A card whose last valid day is within 30 days, or past. The API says so
  // in expiresSoon when it sends the field; otherwise the page works it out.
  function cardExpiresSoon(c) {
    if (typeof c.expiresSoon === 'boolean') return c.expiresSoon;
    const lastDay = new Date(Date.UTC(c.expYear, c.expMonth, 0));
    return lastDay.getTime() - Date.now() < 30 * 86400e3;
  }

  // Statuses are shown as words with a symbol; colour only repeats them.
  function badge(text, tone, symbol) {
    return el('span', { className: `badge ${tone}` }, symbol ? `${symbol} ${text}` : text);
  }

  const purchaseStatus = {
    pending: ['Pending', 'off', '…'],
    requires_action: ['Action required', 'warn', '!'],
    succeeded: ['Succeeded', 'ok', '✓'],
    failed: ['Failed', 'bad', '✗'],
    canceled: ['Canceled', 'off', '✗'],
    refunded: ['Refunded', 'warn', '↩'],
    partially_refunded: ['Partially refunded', 'warn', '↩'],
    disputed: ['Disputed', 'bad', '!'],
  };

  function purchaseBadge(status) {
    const [text, tone, sym] = purchaseStatus[status] || [status, 'off', ''];
    return badge(text, tone, sym);
  }

  const planStatus = {
    active: ['Active', 'ok', '●'],
    paused: ['Paused', 'warn', '❚❚'],
    off: ['Off', 'off', '○'],
  };

  // What a paused plan needs from the partner (RULES.md, Pause reasons).
  const pauseAdvice = {
    payment_failed: ['The last automatic payment failed.', 'Save a new card, or turn the plan on again in Billing info to retry with this one.'],
    authentication_required: ['The bank asked the cardholder to authenticate an automatic payment.', 'Confirm that purchase in History (it credits the DSUs), then save a new card or turn the plan on again to resume it.'],
    monthly_limit_reached: ['The plan made its most automatic purchases for this month.', 'Raise the monthly limit and turn the plan on again, or buy DSU packages by hand.'],
    card_missing: ['There is no saved card.', 'Save a card in Billing info: the plan resumes by itself.'],
    card_expired: ['The saved card has expired.', 'Save a new card in Billing info: the plan resumes by itself.'],
    dispute: ['A card payment was disputed, so the plan is on hold.', 'Contact CiraSync support: once they lift the hold, turn the plan on again.'],
    refill_refunded: ['An automatic purchase was refunded.', 'Turn the plan on again in Billing info when it should buy again.'],
  };

  function planLines(plan) {
    const [text, tone, sym] = planStatus[plan.status] || [plan.status, 'off', ''];
    const status = [badge(text, tone, sym)];
    let advice = '';
    if (plan.status === 'paused') {
      const [why, todo] = pauseAdvice[plan.pausedReason] || [`Reason: ${plan.pausedReason || 'not given'}.`, 'Turn the plan on again in Billing info.'];
      status.push(' ', why);
      advice = `What to do: ${todo}`;
    } else if (plan.status === 'active') {
      status.push(' ', 'The default package is bought when the balance falls to the threshold.');
    } else {
      status.push(' ', 'Nothing is bought automatically.');
      advice = 'To never run out: save a billing contact and a card, then turn the plan on in Billing info.';
    }
    return { status, advice };
  }

  // ------------------------------------------------------------------ API

  class ApiError extends Error {
    constructor(status, body) {
      const p = body && typeof body === 'object' ? body : {};
      // problem+json from the functions; {"message"} from the gateway itself.
      const title = p.title || p.message || (status ? `HTTP ${status}` : 'The local stack did not answer');
      super(title);
      this.status = status;
      this.title = title;
      this.detail = p.title ? p.detail || '' : status === 401 ? 'The token was refused.' : '';
      this.code = p.code || '';
      this.errors = Array.isArray(p.errors) ? p.errors : [];
    }
  }

  function busy(delta) {
    state.inflight += delta;
    document.body.dataset.busy = String(state.inflight);
  }

  async function request(method, path, opts = {}) {
    const headers = { Accept: 'application/json', ...(opts.headers || {}) };
    if (opts.auth !== false) headers.Authorization = `Bearer ${state.token}`;
    let body;
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    }
    busy(+1);
    try {
      let resp;
      try {
        resp = await fetch(path, { method, headers, body, cache: 'no-store', credentials: 'omit' });
      } catch (e) {
        // The request may or may not have arrived: only a retry that is
        // safe to repeat (the same Idempotency-Key for a purchase) can tell.
        throw Object.assign(new ApiError(0, { title: 'No answer from the local stack' }), { detail: 'The request may or may not have reached it. Is dsu-local still running?' });
      }
      const text = await resp.text();
      let data = null;
      try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
      if (!resp.ok) throw new ApiError(resp.status, data);
      if (opts.raw) return { text, disposition: resp.headers.get('Content-Disposition') || '' };
      return data;
    } finally {
      busy(-1);
    }
  }

  // api calls the API with the page's token, minting a fresh one once if
  // the gateway refuses it (a token lives 12 hours).
  async function api(method, path, opts = {}) {
    try {
      return await request(method, path, opts);
    } catch (e) {
      if (e.status === 401 && opts.auth !== false && !opts.retried) {
        await mintToken();
        return request(method, path, { ...opts, retried: true });
      }
      throw e;
    }
  }

  async function mintToken() {
    const res = await request('POST', '/local/token', { auth: false, body: { partnerId: state.partnerId, admin: state.admin } });
    state.token = res.token;
  }

  // simulate asks dsu-local to play the Stripe event a confirmed card leads to.
  function simulate(body) {
    return api('POST', '/local/simulate', { body });
  }

  function newIdempotencyKey() {
    if (crypto.randomUUID) return `portal-${crypto.randomUUID()}`;
    const b = crypto.getRandomValues(new Uint8Array(16));
    return `portal-${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`;
  }

  // ------------------------------------------------------------- messages

  function clearMsg(id) {
    const m = $(id);
    m.className = 'msg';
    m.replaceChildren();
  }

  function okMsg(id, text) {
    const m = $(id);
    m.className = 'msg ok';
    m.setAttribute('role', 'status');
    m.replaceChildren(el('strong', {}, '✓ '), text);
  }

  // showProblem shows an API error: the problem's title, its detail, and
  // the field messages no field of the form took.
  function showProblem(id, err, extra) {
    const m = $(id);
    m.className = 'msg';
    m.setAttribute('role', 'alert');
    const e = err instanceof ApiError ? err : new ApiError(0, { title: 'Something went wrong', detail: String(err && err.message) });
    const parts = [el('strong', {}, `⚠ ${e.title}`)];
    if (e.status) parts.push(` (HTTP ${e.status})`);
    if (e.detail && e.detail !== e.title) parts.push(`: ${e.detail}`);
    const rest = (e.errors || []).filter((f) => !f.shown);
    if (rest.length) parts.push(el('ul', {}, rest.map((f) => el('li', {}, `${f.field}: ${f.message}`))));
    if (extra) parts.push(el('p', {}, extra));
    m.replaceChildren(...parts);
  }

  function clearFieldErrors(form) {
    for (const input of form.querySelectorAll('[data-field]')) {
      input.removeAttribute('aria-invalid');
      const err = $(`${input.id}-error`);
      if (err) err.textContent = '';
    }
  }

  // fieldErrors puts each of the problem's field messages next to its field;
  // it marks the ones it placed so showProblem lists only the others.
  function fieldErrors(form, err) {
    let first = null;
    for (const f of err.errors || []) {
      const input = form.querySelector(`[data-field="${CSS.escape(f.field)}"]`);
      if (!input) continue;
      let p = $(`${input.id}-error`);
      if (!p) {
        p = el('p', { className: 'field-error', id: `${input.id}-error` });
        input.closest('.field').append(p);
        const described = input.getAttribute('aria-describedby');
        input.setAttribute('aria-describedby', described ? `${described} ${p.id}` : p.id);
      }
      p.textContent = p.textContent ? `${p.textContent} ${f.message}` : `⚠ Error: ${f.message}`;
      input.setAttribute('aria-invalid', 'true');
      f.shown = true;
      first = first || input;
    }
    return first;
  }

  async function withButton(button, label, fn) {
    const before = button.textContent;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    button.textContent = label;
    try {
      return await fn();
    } finally {
      button.textContent = before;
      button.removeAttribute('aria-busy');
      button.disabled = false; // applyRole disables it again where it must be
      applyRole();
    }
  }

  // ---------------------------------------------------------------- roles

  // A reader sees everything and changes nothing: every write control is
  // disabled. The API refuses a write anyway (403), and the page shows it.
  function applyRole() {
    // A button busy with its own request stays disabled until it is done.
    const allow = (node, ok = true) => { node.disabled = !state.admin || !ok || node.getAttribute('aria-busy') === 'true'; };
    for (const node of document.querySelectorAll('[data-write]')) allow(node);
    const hasCard = Boolean(state.billing && state.billing.card);
    allow($('buy-next'), cartLines().length > 0);
    allow($('card-remove'), hasCard);
    allow($('pay-saved'), hasCard);
    if (!$('card-save').hasAttribute('aria-busy')) $('card-save').textContent = hasCard ? 'Replace the card' : 'Save a card';
  }

  function renderIdentity() {
    const box = $('identity');
    box.className = state.admin ? 'identity' : 'identity reader';
    const who = el('p', {}, 'Partner ', el('strong', {}, state.partnerId), ' · ', state.admin ? 'Billing admin: you can buy DSUs and change billing info.' : 'Reader: you can see everything and change nothing.');
    const parts = [who];
    if (!state.admin) {
      const tryIt = el('button', { type: 'button', className: 'link', id: 'reader-try', onclick: forceWrite }, 'Send a change anyway');
      parts.push(el('p', {}, 'The controls that change things are disabled. ', tryIt, ' to see the API refuse it.'));
      parts.push(el('div', { className: 'msg', id: 'identity-msg', role: 'alert' }));
    }
    box.replaceChildren(...parts);
  }

  // forceWrite sends a write as a reader: the API answers 403 Not allowed.
  async function forceWrite() {
    const plan = state.billing ? state.billing.autoRefill : { enabled: false };
    try {
      await api('PUT', '/v1/billing/auto-refill', { body: { enabled: plan.enabled } });
      okMsg('identity-msg', 'The API accepted the change.');
    } catch (e) {
      showProblem('identity-msg', e);
    }
  }

  // ----------------------------------------------------------------- tabs

  const tabs = Array.from(document.querySelectorAll('[role="tab"]'));

  function selectTab(panelId, focus) {
    for (const t of tabs) {
      const selected = t.getAttribute('aria-controls') === panelId;
      t.setAttribute('aria-selected', String(selected));
      t.tabIndex = selected ? 0 : -1;
      $(t.getAttribute('aria-controls')).hidden = !selected;
      if (selected && focus) t.focus();
    }
    history.replaceState(null, '', `${location.pathname}${location.search}#${panelId}`);
    if (panelId === 'history') loadHistory();
    // The overview is read again each time it is shown: others (the
    // automated plan, support, usage) change the balance too.
    if (panelId === 'overview' && state.billing) refreshSummary().catch((e) => showProblem('overview-msg', e));
  }

  function tabKeys(ev) {
    const i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    let next = null;
    if (ev.key === 'ArrowRight') next = tabs[(i + 1) % tabs.length];
    else if (ev.key === 'ArrowLeft') next = tabs[(i - 1 + tabs.length) % tabs.length];
    else if (ev.key === 'Home') next = tabs[0];
    else if (ev.key === 'End') next = tabs[tabs.length - 1];
    if (!next) return;
    ev.preventDefault();
    selectTab(next.getAttribute('aria-controls'), true);
  }

  // ------------------------------------------------------------- overview

  async function loadAll() {
    clearMsg('overview-msg');
    try {
      const [billing, balance, catalog] = await Promise.all([
        api('GET', '/v1/billing'),
        api('GET', '/v1/balance'),
        api('GET', '/v1/packages'),
      ]);
      const catalogChanged = !state.catalog || JSON.stringify(state.catalog) !== JSON.stringify(catalog);
      Object.assign(state, { billing, balance, catalog });
      renderOverview();
      if (catalogChanged) renderCatalog();
      renderBilling();
      applyRole();
      document.body.dataset.ready = 'true';
    } catch (e) {
      showProblem('overview-msg', e);
    }
  }

  async function refreshSummary() {
    const [billing, balance] = await Promise.all([api('GET', '/v1/billing'), api('GET', '/v1/balance')]);
    Object.assign(state, { billing, balance });
    renderOverview();
    renderBilling();
    applyRole();
  }

  function renderOverview() {
    const b = state.balance;
    const bal = $('ov-balance');
    bal.textContent = units(b.units);
    bal.classList.toggle('negative', b.units < 0);
    if (b.units < 0) bal.append(el('span', { className: 'hint' }, ' (used beyond the balance; the next purchase covers it)'));
    setText('ov-threshold', units(b.threshold));
    setText('ov-average', b.dailyAverage === null ? el('span', { className: 'empty' }, 'no usage yet') : `${units(b.dailyAverage)} a day`);
    setText('ov-runway', b.runwayDays === null ? el('span', { className: 'empty' }, 'not known yet') : days(b.runwayDays));
    setText('ov-asof', `As of ${time(b.asOf)}.`);

    const info = state.billing;
    const plan = planLines(info.autoRefill);
    setText('ov-plan-status', plan.status);
    setText('ov-plan-advice', plan.advice);
    setText('ov-plan-settings', planSettingsText(info.autoRefill));

    if (info.contact) {
      const a = info.address;
      setText('ov-contact', el('strong', {}, info.contact.name), ` · ${info.contact.email}`, a ? el('br') : null, a ? addressLine(a) : null);
    } else {
      setText('ov-contact', 'No billing contact yet. A contact and address are needed before a card can be saved.');
    }
    setText('ov-card', info.card ? cardLine(info.card) : 'No card saved: purchases use a new card each time, and the automated plan cannot run.');
  }

  // The whole postal address on one line, as an envelope reads it: the
  // street lines, the city with the state (when the country has one) and
  // the postal code, the country.
  function addressLine(a) {
    const place = [a.city + (a.state ? `, ${a.state}` : ''), a.postalCode].filter(Boolean).join(' ');
    return [a.line1, a.line2, place, a.country].filter(Boolean).join(', ');
  }

  function cardLine(c) {
    const parts = [cardText(c)];
    if (cardExpiresSoon(c)) parts.push(' ', badge('Expires soon', 'warn', '!'));
    return parts;
  }

  function packageName(id) {
    const p = state.catalog && state.catalog.packages.find((x) => x.id === id);
    return p ? p.name : id;
  }

  function planSettingsText(plan) {
    const bits = [];
    if (plan.packageId) bits.push(`Default package: ${packageName(plan.packageId)}`);
    bits.push(`threshold ${units(plan.threshold)}`);
    if (plan.monthlyLimit !== null && plan.monthlyLimit !== undefined) bits.push(`at most ${plan.monthlyLimit} automatic ${plan.monthlyLimit === 1 ? 'purchase' : 'purchases'} a month`);
    return bits.join(' · ');
  }

  // ------------------------------------------------------------------ buy

  function renderCatalog() {
    const cat = state.catalog;
    setText('buy-currency', cat.currency.toUpperCase());
    const rows = cat.packages.map((p) => {
      const qty = el('input', { type: 'number', id: `qty-${p.id}`, min: 0, max: 100, step: 1, inputMode: 'numeric', value: String(state.cart.get(p.id) || 0) });
      qty.addEventListener('input', () => setQuantity(p.id, parseInt(qty.value, 10) || 0, false));
      const step = (d) => () => setQuantity(p.id, (state.cart.get(p.id) || 0) + d, true);
      const perThousand = { amount: Math.round((p.price.amount * 1000) / p.units), currency: p.price.currency };
      return el('tr', { id: `row-${p.id}` },
        el('th', { scope: 'row' }, p.name),
        el('td', { className: 'num' }, money(p.price)),
        el('td', { className: 'num' }, money(perThousand)),
        el('td', { className: 'num' }, p.savingsPercent > 0 ? `Save ${p.savingsPercent}%` : '—'),
        el('td', { className: 'qty-col' }, el('div', { className: 'qty' },
          el('button', { type: 'button', id: `dec-${p.id}`, 'aria-label': `Remove one ${p.name} package`, 'data-write': true, onclick: step(-1) }, MINUS),
          el('label', { className: 'sr-only', for: `qty-${p.id}` }, `Quantity of ${p.name}`),
          qty,
          el('button', { type: 'button', id: `inc-${p.id}`, 'aria-label': `Add one ${p.name} package`, 'data-write': true, onclick: step(+1) }, '+'))),
        el('td', { className: 'num', id: `sub-${p.id}` }, '—'));
    });
    $('catalog-body').replaceChildren(...rows);
    // Options for the plan's default package come from the same catalog.
    renderPlanPackages();
    updateTotal();
  }

  function setQuantity(id, n, writeBack) {
    const q = Math.max(0, Math.min(100, Number.isFinite(n) ? n : 0));
    if (q === 0) state.cart.delete(id);
    else state.cart.set(id, q);
    if (writeBack || String(q) !== $(`qty-${id}`).value) $(`qty-${id}`).value = String(q);
    updateTotal();
  }

  function cartLines() {
    if (!state.catalog) return [];
    return state.catalog.packages
      .filter((p) => state.cart.get(p.id) > 0)
      .map((p) => {
        const quantity = state.cart.get(p.id);
        return { pkg: p, quantity, units: p.units * quantity, amount: { amount: p.price.amount * quantity, currency: p.price.currency } };
      });
  }

  function cartTotal(lines) {
    return {
      units: lines.reduce((s, l) => s + l.units, 0),
      amount: { amount: lines.reduce((s, l) => s + l.amount.amount, 0), currency: state.catalog.currency },
      packages: lines.reduce((s, l) => s + l.quantity, 0),
    };
  }

  function updateTotal() {
    const lines = cartLines();
    for (const p of state.catalog.packages) {
      const line = lines.find((l) => l.pkg.id === p.id);
      $(`sub-${p.id}`).textContent = line ? money(line.amount) : '—';
      $(`row-${p.id}`).classList.toggle('selected', Boolean(line));
    }
    if (!lines.length) {
      setText('buy-total', 'Nothing selected yet.');
    } else {
      const t = cartTotal(lines);
      setText('buy-total', `Total: ${t.packages} ${t.packages === 1 ? 'package' : 'packages'}, ${units(t.units)} for ${money(t.amount)}`);
    }
    applyRole();
  }

  function showBuyStep(step) {
    $('buy-choose').hidden = step !== 'choose';
    $('buy-pay').hidden = step !== 'pay';
    $('buy-result').hidden = step !== 'result';
  }

  function goToPay() {
    clearMsg('buy-msg');
    const lines = cartLines();
    if (!lines.length) return;
    $('pay-lines').replaceChildren(...lines.map((l) => el('tr', {},
      el('th', { scope: 'row' }, l.pkg.name),
      el('td', { className: 'num' }, `× ${l.quantity}`),
      el('td', { className: 'num' }, units(l.units)),
      el('td', { className: 'num' }, money(l.amount)))));
    const t = cartTotal(lines);
    $('pay-units').textContent = units(t.units);
    $('pay-amount').textContent = money(t.amount);
    const card = state.billing.card;
    setText('pay-saved-label', card ? `The saved card: ${cardText(card)}` : 'The saved card (none saved yet: save one in Billing info)');
    if (!card) $('pay-new').checked = true;
    showBuyStep('pay');
    applyRole();
    $('buy-pay').querySelector('h3').setAttribute('tabindex', '-1');
    $('buy-pay').querySelector('h3').focus();
  }

  // purchase sends POST /v1/purchases with one Idempotency-Key per attempt:
  // pressing Purchase again after an error resends the same key and body,
  // so a retry never buys twice.
  async function purchase() {
    clearMsg('buy-msg');
    const lines = cartLines();
    if (!lines.length) return;
    const method = $('pay-saved').checked ? 'saved' : 'new';
    const body = JSON.stringify({ items: lines.map((l) => ({ packageId: l.pkg.id, quantity: l.quantity })), paymentMethod: method });
    if (!state.attempt || state.attempt.body !== body) state.attempt = { key: newIdempotencyKey(), body };
    const attempt = state.attempt;
    let created;
    await withButton($('buy-purchase'), 'Purchasing…', async () => {
      try {
        created = await api('POST', '/v1/purchases', { body: attempt.body, headers: { 'Idempotency-Key': attempt.key } });
      } catch (e) {
        showProblem('buy-msg', e, 'Pressing Purchase again retries with the same Idempotency-Key: the purchase is never made twice.');
      }
    });
    if (!created) return;
    state.attempt = null; // answered: the next purchase is a new attempt
    let p = created.purchase;
    showOutcome(p);
    if (p.status === 'pending') {
      // The portal would now confirm the PaymentIntent with Stripe Elements
      // (the new card, or 3-D Secure for the saved one); locally dsu-local
      // plays what Stripe answers.
      const scenario = $('pay-outcome').value;
      try {
        await simulate({ scenario, purchaseId: p.id, declineCode: scenario === 'payment-failed' ? 'insufficient_funds' : undefined });
        p = await api('GET', `/v1/purchases/${encodeURIComponent(p.id)}`);
        showOutcome(p);
      } catch (e) {
        showProblem('buy-msg', e);
      }
    }
    // A declined card keeps the selection, to try again with another card.
    if (p.status !== 'failed') clearCart();
    await refreshAfterPurchase();
  }

  function clearCart() {
    state.cart.clear();
    if (!state.catalog) return;
    for (const p of state.catalog.packages) $(`qty-${p.id}`).value = '0';
    updateTotal();
  }

  async function refreshAfterPurchase() {
    try {
      await refreshSummary();
      if (state.outcome) showOutcome(state.outcome);
      if (!$('history').hidden) loadHistory();
    } catch (e) {
      showProblem('buy-msg', e);
    }
  }

  function itemsText(items) {
    return (items || []).map((i) => `${i.quantity} × ${i.name}`).join(', ');
  }

  function showOutcome(p) {
    state.outcome = p;
    const arriving = $('buy-result').hidden;
    showBuyStep('result');
    // The Purchase button just disappeared: keyboard focus moves to the outcome.
    if (arriving) $('buy-result-title').focus();
    const box = $('buy-outcome');
    const head = (tone, symbol, text) => {
      box.className = `outcome ${tone}`;
      return el('p', {}, el('strong', {}, `${symbol} ${text}`));
    };
    const facts = el('p', {}, `Purchase `, el('span', { className: 'mono' }, p.id), ` · ${itemsText(p.items)} · ${units(p.units)} · ${money(p.amount)}`);
    const parts = [];
    $('buy-confirm').hidden = true;
    $('buy-check').hidden = true;
    $('buy-again').textContent = p.status === 'failed' ? 'Try again' : 'Buy more';
    switch (p.status) {
      case 'succeeded':
        parts.push(head('ok', '✓', `Paid. ${units(p.units)} added to the balance.`), facts);
        if (state.balance) parts.push(el('p', {}, `Balance now: ${units(state.balance.units)}.`));
        if (p.receiptUrl) parts.push(el('p', {}, el('a', { href: p.receiptUrl, target: '_blank', rel: 'noopener noreferrer' }, 'Stripe receipt (opens a new tab)')));
        break;
      case 'failed': {
        const f = p.failure || { message: 'The payment failed.', code: 'payment_failed' };
        parts.push(head('bad', '✗', 'The payment did not go through.'), el('p', {}, `${f.message} (code: ${f.code}). Nothing was charged and no DSUs were added.`), facts);
        if (f.code === 'authentication_required') $('buy-confirm').hidden = false;
        break;
      }
      case 'requires_action':
        parts.push(head('warn', '!', 'The bank asks the cardholder to confirm this payment (3-D Secure).'), el('p', {}, 'Press Confirm to authenticate. No DSUs are added until the payment succeeds.'), facts);
        $('buy-confirm').hidden = false;
        break;
      case 'pending':
        parts.push(head('wait', '…', "Waiting for Stripe's answer."), facts);
        $('buy-check').hidden = false;
        break;
      default:
        parts.push(head('warn', '!', `Status: ${(purchaseStatus[p.status] || [p.status])[0]}.`), facts);
    }
    box.replaceChildren(...parts);
    applyRole();
  }

  // confirmPurchase is the "Confirm" step of a payment the bank wants
  // authenticated: POST /v1/purchases/{id}/confirm hands over the client
  // secret for 3-D Secure; locally dsu-local plays the payment succeeding.
  async function confirmPurchase(id) {
    await api('POST', `/v1/purchases/${encodeURIComponent(id)}/confirm`);
    await simulate({ scenario: 'payment-succeeded', purchaseId: id });
    return api('GET', `/v1/purchases/${encodeURIComponent(id)}`);
  }

  async function confirmOutcome() {
    clearMsg('buy-msg');
    const id = state.outcome.id;
    await withButton($('buy-confirm'), 'Confirming…', async () => {
      try {
        showOutcome(await confirmPurchase(id));
      } catch (e) {
        showProblem('buy-msg', e);
      }
    });
    await refreshAfterPurchase();
  }

  async function checkOutcome() {
    clearMsg('buy-msg');
    try {
      showOutcome(await api('GET', `/v1/purchases/${encodeURIComponent(state.outcome.id)}`));
      await refreshAfterPurchase();
    } catch (e) {
      showProblem('buy-msg', e);
    }
  }

  // -------------------------------------------------------------- billing

  const contactFields = {
    'f-name': (b) => b.contact && b.contact.name,
    'f-email': (b) => b.contact && b.contact.email,
    'f-phone': (b) => b.contact && b.contact.phone,
    'f-line1': (b) => b.address && b.address.line1,
    'f-line2': (b) => b.address && b.address.line2,
    'f-city': (b) => b.address && b.address.city,
    'f-state': (b) => b.address && b.address.state,
    'f-postal': (b) => b.address && b.address.postalCode,
    'f-country': (b) => b.address && b.address.country,
    'f-vat': (b) => b.vatId,
  };

  function renderBilling() {
    const b = state.billing;
    if (!state.contactDirty) {
      for (const [id, get] of Object.entries(contactFields)) $(id).value = get(b) || '';
      $('f-currency').value = b.currency;
    }
    setText('card-summary', b.card ? cardLine(b.card) : 'No card saved.');
    const plan = planLines(b.autoRefill);
    setText('plan-status', plan.status);
    setText('plan-advice', plan.advice);
    if (!state.planDirty) fillPlan();
  }

  function renderPlanPackages() {
    const select = $('p-package');
    const current = state.billing && state.billing.autoRefill.packageId;
    const options = state.catalog.packages.map((p) => el('option', { value: p.id }, `${p.name} (${money(p.price)})`));
    if (!current) options.unshift(el('option', { value: '' }, 'Choose a package'));
    select.replaceChildren(...options);
    if (current) select.value = current;
  }

  function fillPlan() {
    const plan = state.billing.autoRefill;
    $('p-enabled').checked = plan.enabled;
    if (state.catalog) renderPlanPackages();
    $('p-threshold').value = String(plan.threshold);
    $('p-limit').value = plan.monthlyLimit === null || plan.monthlyLimit === undefined ? '' : String(plan.monthlyLimit);
  }

  const orNull = (v) => (v.trim() === '' ? null : v.trim());

  async function saveContact(ev) {
    ev.preventDefault();
    const form = $('contact-form');
    clearMsg('contact-msg');
    clearFieldErrors(form);
    const body = {
      contact: { name: $('f-name').value.trim(), email: $('f-email').value.trim(), phone: orNull($('f-phone').value) },
      address: {
        line1: $('f-line1').value.trim(), line2: orNull($('f-line2').value), city: $('f-city').value.trim(),
        state: orNull($('f-state').value), postalCode: $('f-postal').value.trim(), country: $('f-country').value.trim(),
      },
      vatId: orNull($('f-vat').value),
    };
    // The currency is sent only to change it: it is fixed once the partner bought.
    if ($('f-currency').value !== state.billing.currency) body.currency = $('f-currency').value;
    await withButton($('contact-save'), 'Saving…', async () => {
      try {
        state.billing = await api('PUT', '/v1/billing/contact', { body });
        state.contactDirty = false;
        okMsg('contact-msg', 'Billing contact and address saved.');
        await loadAll();
      } catch (e) {
        const first = fieldErrors(form, e);
        showProblem('contact-msg', e, first ? 'Correct the fields marked “Error” and press OK again.' : null);
        if (first) first.focus();
      }
    });
  }

  // saveCard is the simulated Stripe Elements card form: a SetupIntent from
  // the API, Stripe's setup_intent.succeeded played by dsu-local, then the
  // billing info read again.
  async function saveCard() {
    clearMsg('card-msg');
    await withButton($('card-save'), 'Saving the card…', async () => {
      try {
        const si = await api('POST', '/v1/billing/card/setup-intent');
        await simulate({ scenario: 'setup-succeeded', setupIntentId: si.setupIntentId });
        await refreshSummary();
        okMsg('card-msg', state.billing.card ? `Card saved: ${cardText(state.billing.card)}.` : 'Stripe confirmed the card; it appears here once saved.');
      } catch (e) {
        showProblem('card-msg', e);
      }
    });
  }

  async function removeCard() {
    clearMsg('card-msg');
    $('card-remove-confirm').hidden = true;
    try {
      state.billing = await api('DELETE', '/v1/billing/card');
      await refreshSummary();
      okMsg('card-msg', 'The card was removed.');
      $('card-remove').focus();
    } catch (e) {
      showProblem('card-msg', e);
    }
  }

  // An integer typed as such is sent as a number; anything else is sent as
  // typed, so the API's own message names the field.
  function numberOrRaw(v) {
    const s = v.trim();
    return /^-?\d+$/.test(s) ? Number(s) : s;
  }

  async function savePlan(ev) {
    ev.preventDefault();
    const form = $('plan-form');
    clearMsg('plan-msg');
    clearFieldErrors(form);
    // An omitted setting keeps its value (API.md, PUT /v1/billing/auto-refill).
    const body = { enabled: $('p-enabled').checked };
    if ($('p-package').value) body.packageId = $('p-package').value;
    if ($('p-threshold').value.trim() !== '') body.threshold = numberOrRaw($('p-threshold').value);
    if ($('p-limit').value.trim() !== '') body.monthlyLimit = numberOrRaw($('p-limit').value);
    await withButton($('plan-save'), 'Saving…', async () => {
      try {
        state.billing = await api('PUT', '/v1/billing/auto-refill', { body });
        state.planDirty = false;
        await refreshSummary();
        okMsg('plan-msg', body.enabled ? 'The automated plan is saved and on.' : 'The automated plan is saved and off.');
      } catch (e) {
        const first = fieldErrors(form, e);
        showProblem('plan-msg', e);
        if (first) first.focus();
      }
    });
  }

  // -------------------------------------------------------------- history

  function cellClass(c) {
    return [c.num ? 'num' : '', c.nowrap ? 'nowrap' : ''].join(' ').trim();
  }

  // History is a list of blocks; each reads one API list. A route the API
  // adds (usage by tenant, statements, the audit log) becomes one more
  // entry in historyBlocks, built with pagedBlock or by hand.
  function pagedBlock({ id, title, path, list, columns, empty, adminOnly, readerNote }) {
    let cursor = null;
    const body = el('tbody', { id: `${id}-body` });
    const more = el('button', { type: 'button', id: `${id}-more`, hidden: true }, 'Load more');
    const msg = el('div', { className: 'msg', id: `${id}-msg`, role: 'alert' });
    const table = el('table', { id: `${id}-table` },
      el('thead', {}, el('tr', {}, columns.map((c) => el('th', { scope: 'col', className: cellClass(c) }, c.head)))),
      body);
    const refresh = el('button', { type: 'button', className: 'link', onclick: () => load(false) }, 'Refresh');
    const note = el('p', { className: 'empty', id: `${id}-note`, hidden: true }, readerNote || '');
    const section = el('section', { className: 'history-block', 'aria-labelledby': `${id}-title` },
      el('div', { className: 'head' }, el('h3', { id: `${id}-title` }, title), refresh), msg, note, table, more);

    async function load(append) {
      msg.replaceChildren();
      msg.className = 'msg';
      const q = new URLSearchParams({ limit: '25' });
      if (append && cursor) q.set('cursor', cursor);
      try {
        const page = await api('GET', `${path}?${q}`);
        const rows = page[list].map((item) => el('tr', {}, columns.map((c) => el('td', { className: cellClass(c) }, c.cell(item)))));
        if (append) body.append(...rows);
        else body.replaceChildren(...rows);
        if (!body.children.length) body.append(el('tr', {}, el('td', { colSpan: columns.length, className: 'empty' }, empty)));
        cursor = page.nextCursor || null;
        more.hidden = !cursor;
      } catch (e) {
        showProblem(msg.id, e);
      }
    }
    more.onclick = () => load(true);
    // A block for admins only tells a reader so, and reads nothing.
    function forReader(reader) {
      note.hidden = !reader;
      table.hidden = reader;
      refresh.hidden = reader;
      if (reader) more.hidden = true;
    }
    return { id, adminOnly: Boolean(adminOnly), section, load: () => load(false), forReader };
  }

  const ledgerTypes = {
    grant: 'Grant', purchase: 'Purchase', refill: 'Automatic purchase', usage: 'Usage', refund: 'Refund',
    refund_reversal: 'Refund reversed', dispute: 'Dispute', adjustment: 'Adjustment',
  };

  function confirmButton(p) {
    const needs = p.status === 'requires_action' || (p.status === 'failed' && p.failure && p.failure.code === 'authentication_required');
    if (!needs) return '';
    const b = el('button', { type: 'button', 'data-write': true, disabled: !state.admin, 'aria-label': `Confirm purchase ${p.id}` }, 'Confirm');
    b.onclick = () => withButton(b, 'Confirming…', async () => {
      try {
        const done = await confirmPurchase(p.id);
        okMsg('purchases-msg', `Purchase ${done.id}: ${(purchaseStatus[done.status] || [done.status])[0].toLowerCase()}.`);
        await refreshSummary();
        await historyBlocks[0].load();
      } catch (e) {
        showProblem('purchases-msg', e);
      }
    });
    return b;
  }

  function currentMonth() {
    return new Date().toISOString().slice(0, 7);
  }

  // monthBlock is a report of one calendar month: a month picker, the
  // report rendered by render, and its CSV (the same route with
  // Accept: text/csv).
  function monthBlock({ id, title, path, render, csvLabel }) {
    const month = el('input', { type: 'month', id: `${id}-month`, value: currentMonth(), max: currentMonth() });
    const show = el('button', { type: 'button', id: `${id}-show` }, 'Show');
    const csv = el('button', { type: 'button', id: `${id}-csv` }, csvLabel);
    const msg = el('div', { className: 'msg', id: `${id}-msg`, role: 'alert' });
    const body = el('div', { id: `${id}-body` });
    const section = el('section', { className: 'history-block', 'aria-labelledby': `${id}-title` },
      el('div', { className: 'head' }, el('h3', { id: `${id}-title` }, title)),
      el('div', { className: 'month-bar' }, el('label', { for: month.id }, 'Month'), month, show, csv),
      msg, body);

    async function load() {
      clearMsg(msg.id);
      try {
        body.replaceChildren(...render(await api('GET', path(month.value)), month.value));
      } catch (e) {
        body.replaceChildren();
        showProblem(msg.id, e);
      }
    }
    async function download() {
      clearMsg(msg.id);
      try {
        const res = await api('GET', path(month.value), { headers: { Accept: 'text/csv' }, raw: true });
        const name = (/filename="?([^";]+)"?/.exec(res.disposition) || [])[1] || `${id}-${month.value}.csv`;
        const url = URL.createObjectURL(new Blob([res.text], { type: 'text/csv' }));
        const link = el('a', { href: url, download: name, hidden: true });
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60e3);
        const rows = res.text.split('\r\n').filter((l) => l !== '').length - 1;
        okMsg(msg.id, `${name} downloaded: ${numberFormat.format(rows)} ${rows === 1 ? 'row' : 'rows'}.`);
      } catch (e) {
        showProblem(msg.id, e);
      }
    }
    show.onclick = load;
    csv.onclick = download;
    month.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') load(); });
    return { id, adminOnly: false, section, load };
  }

  function smallTable(head, rows, numeric, className) {
    return el('table', { className },
      el('thead', {}, el('tr', {}, head.map((h, i) => el('th', { scope: 'col', className: numeric[i] ? 'num' : '' }, h)))),
      el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c, i) => el('td', { className: numeric[i] ? 'num' : '' }, c))))));
  }

  // GET /v1/usage: DSUs per customer tenant, what an MSP bills its own customers on.
  function renderUsage(u, month) {
    if (!u.tenants.length) return [el('p', { className: 'empty' }, `No usage reported for ${month}.`)];
    const rows = u.tenants.map((t) => [
      t.tenantId,
      numberFormat.format(t.units),
      numberFormat.format(t.days.length),
      el('details', {}, el('summary', {}, 'Days'),
        el('ul', { className: 'days' }, t.days.map((d) => el('li', {}, `${d.date}: ${numberFormat.format(d.users)} users, ${units(d.units)}${d.units === 0 && d.users > 0 ? ' (free day)' : ''}`)))),
    ]);
    return [
      el('p', { className: 'total' }, `${units(u.totalUnits)} across ${u.tenants.length} ${u.tenants.length === 1 ? 'tenant' : 'tenants'} in ${u.month}`),
      smallTable(['Tenant', 'DSUs', 'Days reported', 'Per day'], rows, [false, true, true, false], 'compact'),
    ];
  }

  // GET /v1/statements/{month}: the month's ledger in totals.
  function renderStatement(st) {
    const totals = Object.entries(st.totals).map(([type, n]) => [ledgerTypes[type] || type, signedUnits(n)]);
    const stats = el('dl', { className: 'stats' },
      el('div', { className: 'stat' }, el('dt', {}, 'Opening balance'), el('dd', { className: 'big' }, units(st.openingBalance))),
      el('div', { className: 'stat' }, el('dt', {}, 'Closing balance'), el('dd', { className: 'big', id: 'statement-closing' }, units(st.closingBalance))),
      el('div', { className: 'stat' }, el('dt', {}, 'Usage'), el('dd', { className: 'big' }, units(st.usageUnits))),
      el('div', { className: 'stat' }, el('dt', {}, 'Ledger entries'), el('dd', { className: 'big' }, numberFormat.format(st.entries))));
    const parts = [stats];
    parts.push(el('h4', {}, 'Changes by type'),
      totals.length ? smallTable(['Type', 'DSUs'], totals, [false, true], 'compact') : el('p', { className: 'empty' }, 'No changes this month.'));
    parts.push(el('h4', {}, `Purchases credited (${st.currency.toUpperCase()})`),
      st.purchases.length
        ? smallTable(['Purchase', 'Kind', 'Status', 'DSUs', 'Amount', 'Receipt'], st.purchases.map((p) => [
          el('span', { className: 'mono' }, p.id), p.kind === 'auto_refill' ? 'Automatic' : 'Manual', purchaseBadge(p.status),
          numberFormat.format(p.units), money(p.amount),
          p.receiptUrl ? el('a', { href: p.receiptUrl, target: '_blank', rel: 'noopener noreferrer' }, 'Receipt') : '—']),
        [false, false, false, true, true, false])
        : el('p', { className: 'empty' }, 'No purchases credited this month.'));
    return parts;
  }

  // GET /v1/audit: who changed the partner's billing (admins only).
  const auditActions = {
    'contact.updated': 'Contact and address changed',
    'card.saved': 'Card saved',
    'card.removed': 'Card removed',
    'auto_refill.updated': 'Automated plan changed',
    'purchase.created': 'Purchase made',
    'purchase.confirmed': 'Purchase confirmed',
    'adjustment.created': 'Balance adjusted by support',
    'dispute_hold.released': 'Dispute hold released by support',
  };

  function auditDetails(ev) {
    const d = ev.details || {};
    switch (ev.action) {
      case 'contact.updated':
        return Array.isArray(d.fields) && d.fields.length ? `Fields: ${d.fields.join(', ')}` : '—';
      case 'card.saved':
        return d.last4 ? `${brandName(d.brand)} •••• ${d.last4}` : '—';
      case 'purchase.created':
      case 'purchase.confirmed':
        return d.purchaseId ? el('span', { className: 'mono' }, d.purchaseId) : '—';
      case 'adjustment.created':
        return `${signedUnits(d.units || 0)} DSUs: ${d.reason || ''}${d.ticket ? ` (${d.ticket})` : ''}`;
      case 'dispute_hold.released':
        return `The plan was ${d.planStatus || '?'}${d.pausedReason ? ` (${d.pausedReason})` : ''}`;
      case 'auto_refill.updated': {
        const before = d.before || {};
        const after = d.after || {};
        const changed = Object.keys({ ...before, ...after })
          .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
          .map((k) => `${k}: ${JSON.stringify(before[k] ?? null)} → ${JSON.stringify(after[k] ?? null)}`);
        return changed.length ? changed.join('; ') : 'No setting changed';
      }
      default:
        return Object.keys(d).length ? JSON.stringify(d) : '—';
    }
  }

  const historyBlocks = [
    pagedBlock({
      id: 'purchases', title: 'Purchases', path: '/v1/purchases', list: 'purchases', empty: 'No purchases yet.',
      columns: [
        { head: 'Created', nowrap: true, cell: (p) => time(p.createdAt) },
        { head: 'Purchase', cell: (p) => el('span', { className: 'mono' }, p.id) },
        { head: 'Kind', cell: (p) => (p.kind === 'auto_refill' ? 'Automatic' : 'Manual') },
        { head: 'Packages', nowrap: true, cell: (p) => itemsText(p.items) },
        { head: 'DSUs', num: true, cell: (p) => numberFormat.format(p.units) },
        { head: 'Amount', num: true, cell: (p) => money(p.amount) },
        { head: 'Status', cell: (p) => [purchaseBadge(p.status), p.failure ? el('div', { className: 'hint' }, p.failure.message) : null] },
        // receiptUrl: Stripe's receipt, once the charge succeeded (absent
        // or null before).
        { head: 'Receipt', cell: (p) => (p.receiptUrl ? el('a', { href: p.receiptUrl, target: '_blank', rel: 'noopener noreferrer' }, 'Receipt') : '—') },
        { head: 'Action', cell: confirmButton },
      ],
    }),
    pagedBlock({
      id: 'ledger', title: 'Ledger', path: '/v1/ledger', list: 'entries', empty: 'No ledger entries yet.',
      columns: [
        { head: 'Date', nowrap: true, cell: (e) => time(e.createdAt) },
        { head: 'Description', cell: (e) => e.description },
        { head: 'Type', cell: (e) => ledgerTypes[e.type] || e.type },
        { head: 'Change (DSUs)', num: true, cell: (e) => signedUnits(e.units) },
        { head: 'Balance after', num: true, cell: (e) => numberFormat.format(e.balanceAfter) },
      ],
    }),
    pagedBlock({
      id: 'audit', title: 'Audit log', path: '/v1/audit', list: 'events', empty: 'Nothing changed yet.', adminOnly: true,
      readerNote: 'The audit log is shown to billing admins only.',
      columns: [
        { head: 'When', nowrap: true, cell: (e) => time(e.at) },
        { head: 'Who', cell: (e) => e.actor.email || e.actor.sub },
        { head: 'What', cell: (e) => auditActions[e.action] || e.action },
        { head: 'Details', cell: auditDetails },
      ],
    }),
    monthBlock({
      id: 'statement', title: 'Monthly statement', csvLabel: 'Download the ledger (CSV)',
      path: (m) => `/v1/statements/${encodeURIComponent(m)}`, render: renderStatement,
    }),
    monthBlock({
      id: 'usage', title: 'Usage by tenant', csvLabel: 'Download usage (CSV)',
      path: (m) => `/v1/usage?${new URLSearchParams({ month: m })}`, render: renderUsage,
    }),
  ];

  function mountHistory() {
    $('history-sections').replaceChildren(...historyBlocks.map((b) => b.section));
  }

  function loadHistory() {
    if (!state.token) return;
    for (const b of historyBlocks) {
      const readerOnly = b.adminOnly && !state.admin;
      if (b.forReader) b.forReader(readerOnly);
      if (!readerOnly) b.load();
    }
  }

  // ----------------------------------------------------------------- who

  // signIn switches to a partner and role: the local stack mints their
  // token. A refused switch changes nothing: the page keeps showing who it
  // showed.
  async function signIn(partnerId, admin) {
    $('who-error').textContent = '';
    $('who-partner').removeAttribute('aria-invalid');
    let minted;
    try {
      minted = await request('POST', '/local/token', { auth: false, body: { partnerId, admin } });
    } catch (e) {
      const f = (e.errors || []).find((x) => x.field === 'partnerId');
      const still = state.token ? ` Still showing partner ${state.partnerId}.` : '';
      $('who-error').textContent = `⚠ ${f ? `Partner id: ${f.message}` : e.title}.${still}`;
      $('who-partner').setAttribute('aria-invalid', 'true');
      $('who-partner').focus();
      return;
    }
    Object.assign(state, {
      partnerId, admin, token: minted.token,
      billing: null, balance: null, attempt: null, outcome: null, contactDirty: false, planDirty: false,
    });
    const q = new URLSearchParams({ partner: partnerId, role: admin ? 'billing-admin' : 'reader' });
    history.replaceState(null, '', `${location.pathname}?${q}${location.hash}`);
    document.body.dataset.ready = 'false';
    for (const id of ['overview-msg', 'buy-msg', 'contact-msg', 'card-msg', 'plan-msg']) clearMsg(id);
    clearFieldErrors($('contact-form'));
    clearFieldErrors($('plan-form'));
    showBuyStep('choose');
    renderIdentity();
    clearCart();
    await loadAll();
    if (!$('history').hidden) loadHistory();
  }

  function switchIdentity(ev) {
    ev.preventDefault();
    signIn($('who-partner').value.trim(), $('who-admin').checked);
  }

  // ---------------------------------------------------------------- start

  function start() {
    // With nothing chosen: partner demo, billing admin.
    const q = new URLSearchParams(location.search);
    const partnerId = q.get('partner') || 'demo';
    const admin = q.get('role') !== 'reader';
    $('who-partner').value = partnerId;
    $(admin ? 'who-admin' : 'who-reader').checked = true;
    document.body.dataset.busy = '0';

    $('who').addEventListener('submit', switchIdentity);
    for (const t of tabs) t.addEventListener('click', () => selectTab(t.getAttribute('aria-controls'), false));
    document.querySelector('[role="tablist"]').addEventListener('keydown', tabKeys);
    for (const b of document.querySelectorAll('[data-goto]')) b.addEventListener('click', () => selectTab(b.dataset.goto, true));

    $('buy-next').addEventListener('click', goToPay);
    $('buy-back').addEventListener('click', () => { clearMsg('buy-msg'); showBuyStep('choose'); $('buy-next').focus(); });
    $('buy-purchase').addEventListener('click', purchase);
    $('buy-confirm').addEventListener('click', confirmOutcome);
    $('buy-check').addEventListener('click', checkOutcome);
    $('buy-again').addEventListener('click', () => { clearMsg('buy-msg'); state.outcome = null; showBuyStep('choose'); });

    $('contact-form').addEventListener('submit', saveContact);
    $('contact-form').addEventListener('input', () => { state.contactDirty = true; });
    $('card-save').addEventListener('click', saveCard);
    $('card-remove').addEventListener('click', () => { $('card-remove-confirm').hidden = false; $('card-remove-yes').focus(); });
    $('card-remove-yes').addEventListener('click', removeCard);
    $('card-remove-no').addEventListener('click', () => { $('card-remove-confirm').hidden = true; $('card-remove').focus(); });
    $('plan-form').addEventListener('submit', savePlan);
    $('plan-form').addEventListener('input', () => { state.planDirty = true; });

    mountHistory();
    const tab = location.hash.slice(1);
    selectTab(tabs.some((t) => t.getAttribute('aria-controls') === tab) ? tab : 'overview', false);
    signIn(partnerId, admin);
  }

  start();
})();
