/*! sanscode widget: pay by premium-rate call. No framework, no build step.
 * <div id="sanscode-pay"></div>
 * <script src="https://SANSCODE/widget.js" data-token="ct_…" data-target="#sanscode-pay" async></script>
 *   data-token   client token of the purchase (POST /v1/purchases → clientToken); required
 *   data-target  CSS selector of the container (default: a div inserted after the script)
 *   data-lang    "fr" | "en": overrides the offer's language
 * The API base is the folder of this script's src. Never give it the merchant's API key.
 * Events on the container (bubbling, detail = purchase state): sanscode:progress on every
 * update, then sanscode:paid, sanscode:expired or sanscode:cancelled.
 * Style: --sanscode-accent, --sanscode-bg, --sanscode-fg, --sanscode-radius, --sanscode-font
 * (rules use :where(), so any selector of the page wins). */
(function () {
  var me = document.currentScript;
  if (!me) return;
  var base = new URL('.', me.src).href, token = me.dataset.token || '';
  var T = {
    fr: {
      label: 'Paiement par appel', done: 'Appels validés', call: 'Appelez le', load: 'Chargement…', live: 'Appel en cours…', paid: 'Payé ✓',
      expired: 'Délai dépassé : cet achat a expiré.', cancelled: 'Achat annulé.', error: 'Paiement indisponible.',
      disputed: 'Appel raccroché pendant l’annonce. Si c’était vous, rappelez et restez en ligne.',
      rem: function (n) { return 'Il vous reste ' + n + (n > 1 ? ' appels' : ' appel'); },
      secs: 'Temps validé', sec: function (n) { return 'Il reste ' + mmss(n) + ' d’appel'; }
    },
    en: {
      label: 'Pay by phone call', done: 'Calls counted', call: 'Call', load: 'Loading…', live: 'Call in progress…', paid: 'Paid ✓',
      expired: 'Time is up: this purchase expired.', cancelled: 'Purchase cancelled.', error: 'Payment unavailable.',
      disputed: 'The call was hung up during the announcement. If it was you, call again and stay on the line.',
      rem: function (n) { return n + (n > 1 ? ' calls remaining' : ' call remaining'); },
      secs: 'Time counted', sec: function (n) { return mmss(n) + ' of calling remaining'; }
    }
  };

  /** 125 → "2:05": a per-second purchase shows minutes and seconds. */
  function mmss(n) { n = Math.max(0, n | 0); return Math.floor(n / 60) + ':' + ('0' + (n % 60)).slice(-2); }

  if (!document.getElementById('sanscode-style')) {
    var st = document.createElement('style');
    st.id = 'sanscode-style';
    st.textContent =
      ':where(.sanscode){--sc-a:var(--sanscode-accent,#0b57d0);font:var(--sanscode-font,1rem/1.4 system-ui,sans-serif);color:var(--sanscode-fg,#1a1a1a);' +
      'background:var(--sanscode-bg,#fff);border:2px solid var(--sc-a);border-radius:var(--sanscode-radius,12px);' +
      'padding:1em 1.25em;max-width:22em;text-align:center}' +
      ':where(.sanscode p){margin:.3em 0}' +
      ':where(.sanscode-num){display:inline-block;margin:.2em 0;font-size:1.6em;font-weight:700;letter-spacing:.04em;' +
      'color:var(--sc-a);text-decoration:none}' +
      ':where(.sanscode-price){font-size:.85em;opacity:.8}' +
      ':where(.sanscode progress){width:100%;accent-color:var(--sc-a)}' +
      ':where(.sanscode-status){font-weight:600}' +
      ':where(.sanscode[data-state=paid] .sanscode-status){font-size:1.4em;color:var(--sc-a)}';
    document.head.appendChild(st);
  }

  var host = me.dataset.target && document.querySelector(me.dataset.target);
  if (!host) { host = document.createElement('div'); me.after(host); }
  if (host.sanscodeStop) host.sanscodeStop(); // a widget mounted here before is replaced
  host.sanscodeStop = function () { over = true; stop(); };
  host.innerHTML =
    '<div class="sanscode" role="region" data-state="loading"><div class="sanscode-call"><p class="sanscode-lead"></p>' +
    '<a class="sanscode-num"></a><p class="sanscode-price"></p><progress value="0"></progress></div>' +
    '<p class="sanscode-status" role="status" aria-live="polite"></p></div>';
  var $ = function (c) { return host.querySelector('.sanscode' + c); };
  var box = $(''), call = $('-call'), num = $('-num'), price = $('-price'), bar = host.querySelector('progress'), status = $('-status');
  var state = {}, es = null, timer = 0, over = false;

  function t() { return T[me.dataset.lang] || T[state.language] || T.fr; }

  /** +33899123456 → 08 99 12 34 56; other numbers are shown as they are. */
  function national(e164) {
    var m = /^\+33(\d{9})$/.exec(e164 || '');
    return m ? ('0' + m[1]).replace(/(\d\d)(?!$)/g, '$1 ') : e164 || '';
  }

  function show(text, mode) {
    box.setAttribute('data-state', mode);
    if (status.textContent !== text) status.textContent = text;
  }

  function render() {
    var s = state, L = t(), nat = national(s.numberToCall);
    box.setAttribute('aria-label', L.label);
    box.lang = me.dataset.lang || s.language || 'fr';
    $('-lead').textContent = L.call;
    num.href = 'tel:' + s.numberToCall;
    num.textContent = nat;
    price.textContent = s.priceLine || '';
    price.hidden = !s.priceLine;
    // A per-second purchase (unit "second") counts seconds instead of calls.
    var perSecond = s.unit === 'second';
    bar.max = (perSecond ? s.secondsRequired : s.callsRequired) || 1;
    bar.value = (perSecond ? s.secondsCounted : s.callsCounted) || 0;
    bar.setAttribute('aria-label', perSecond ? L.secs : L.done);
    call.hidden = s.status !== 'pending';
    if (s.status === 'completed') show(L.paid, 'paid');
    else if (s.status === 'expired' || s.status === 'cancelled') show(L[s.status], s.status);
    else if (s.callInProgress) show(perSecond ? L.live + ' ' + L.sec(s.secondsRemaining) : L.live, 'live');
    // The phone's owner hung up while told whom they pay (disputedAt): the purchase stays
    // pending, and a buyer who hung up by mistake may call again. Shown until a call counts.
    else if (s.disputedAt && !((perSecond ? s.secondsCounted : s.callsCounted) > 0)) show(L.disputed, 'disputed');
    else show(perSecond ? L.sec(s.secondsRemaining) : L.rem(s.callsRemaining), 'pending');
  }

  function emit(name) {
    host.dispatchEvent(new CustomEvent('sanscode:' + name, { bubbles: true, detail: Object.assign({}, state) }));
  }

  function update(data) {
    if (over) return;
    Object.assign(state, data);
    render();
    emit('progress');
    if (state.status !== 'pending') {
      over = true;
      stop();
      emit(state.status === 'completed' ? 'paid' : state.status);
    } else {
      // Past its end a purchase reads as expired at once: look again then.
      clearTimeout(timer);
      var ms = Date.parse(state.expiresAt) - Date.now() + 1500;
      if (ms < 864e5) timer = setTimeout(start, Math.max(ms, 5000));
    }
  }

  function stop() {
    clearTimeout(timer);
    if (es) es.close();
    es = null;
  }

  function url(path) { return base + 'v1/client/' + path + '?token=' + encodeURIComponent(token); }

  function start() {
    stop();
    fetch(url('purchase'), { cache: 'no-store' })
      .then(function (r) {
        if (r.status === 401 || r.status === 404) throw 0;
        if (!r.ok) throw 1;
        return r.json();
      })
      .then(function (p) {
        update(p);
        if (over) return;
        es = new EventSource(url('events') + '&lastEventId=' + (p.lastEventId || 0));
        ['progress', 'completed', 'expired', 'cancelled'].forEach(function (name) {
          es.addEventListener(name, function (e) { update(JSON.parse(e.data)); });
        });
        // EventSource retries by itself; once it gives up (e.g. token refused), start over.
        es.onerror = function () { if (es && es.readyState === 2) { stop(); timer = setTimeout(start, 5000); } };
      })
      .catch(function (e) {
        if (state.status) return void (timer = setTimeout(start, 5000));
        show(t().error, 'error');
        if (e !== 0) timer = setTimeout(start, 5000);
      });
  }

  show(t().load, 'loading');
  if (token) start(); else show(t().error, 'error');
})();
