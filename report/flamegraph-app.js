/* luaprof report page (runs in the browser; inlined into every HTML report).
 * Reads the JSON data block, rebuilds the call tree, drives d3-flame-graph.
 * Every string from the profile is inserted with textContent or d3's .text(): never as HTML. */
(function () {
  'use strict';
  var t0 = performance.now();
  var data = JSON.parse(document.getElementById('luaprof-data').textContent);
  var isDiff = data.mode === 'diff';
  var frames = data.frames;
  var SCALE = 1e6;
  var MAX_ROWS = 1000;
  var lc = new Array(frames.length);
  for (var i = 0; i < frames.length; i++) lc[i] = (frames[i][0] + '\u0000' + frames[i][1]).toLowerCase();

  var $ = function (id) { return document.getElementById(id); };
  var state = { thread: 0, inverted: false, widths: 'new', term: '', sortKey: null, sortDir: -1, zoomed: null };
  var chart = null;
  var roots = [];

  // ---- header ----
  $('title').textContent = data.title;
  data.facts.forEach(function (f) {
    var div = document.createElement('div');
    var dt = document.createElement('dt');
    var dd = document.createElement('dd');
    dt.textContent = f[0];
    dd.textContent = f[1];
    dd.setAttribute('data-fact', f[0]);
    div.appendChild(dt);
    div.appendChild(dd);
    $('facts').appendChild(div);
  });

  // ---- tree building ----
  function buildProfileRoot(th) {
    var tr = th.tree, f = tr.f, d = tr.d, v = tr.v, n = f.length;
    var root = { n: th.label, fi: -1, v: th.total, k: 0 };
    var stack = [root];
    for (var i = 0; i < n; i++) {
      var node = { n: frames[f[i]][0], fi: f[i], v: v[i], k: 0 };
      var parent = stack[d[i]];
      if (!parent.c) parent.c = [];
      parent.c.push(node);
      parent.k += v[i];
      stack[d[i] + 1] = node;
    }
    return root;
  }
  function buildDiffRoot() {
    var tr = data.tree, f = tr.f, d = tr.d, b = tr.b, w = tr.n, n = f.length;
    var root = { n: 'all', fi: -1, b: data.baseTotal, w: data.newTotal, v: 0, dd: 0 };
    var stack = [root];
    for (var i = 0; i < n; i++) {
      var node = { n: frames[f[i]][0], fi: f[i], b: b[i], w: w[i], v: 0, dd: 0 };
      var parent = stack[d[i]];
      if (!parent.c) parent.c = [];
      parent.c.push(node);
      stack[d[i] + 1] = node;
    }
    return root;
  }
  function forEach(root, fn) {
    var todo = [root];
    while (todo.length) {
      var x = todo.pop();
      fn(x);
      if (x.c) for (var i = 0; i < x.c.length; i++) todo.push(x.c[i]);
    }
  }
  function share(x, total) { return total > 0 ? x / total : 0; }
  function applyDiffWidths(root) {
    var bt = data.baseTotal, nt = data.newTotal, useBase = state.widths === 'base';
    forEach(root, function (x) {
      var sb = share(x.b, bt), sn = share(x.w, nt);
      x.v = (useBase ? sb : sn) * SCALE;
      x.dd = (sn - sb) * SCALE;
      x.rel = Math.max(sb, sn) > 0 ? (sn - sb) / Math.max(sb, sn) : 0;
    });
  }
  function currentRoot() {
    if (isDiff) {
      if (!roots[0]) roots[0] = buildDiffRoot();
      applyDiffWidths(roots[0]);
      return roots[0];
    }
    if (!roots[state.thread]) roots[state.thread] = buildProfileRoot(data.threads[state.thread]);
    return roots[state.thread];
  }
  function threadTotal() { return isDiff ? SCALE : data.threads[state.thread].total; }

  // ---- colours ----
  function hash(s) {
    var h = 2166136261;
    for (var i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
    return ((h >>> 0) % 1000) / 1000;
  }
  var HUES = { lua: [18, 45], c: [175, 200], native: [0, 12], jit: [95, 130], gc: [270, 290], idle: [0, 0] };
  function kindColor(d) {
    if (d.highlight) return '#e600e6';
    var fi = d.data.fi;
    if (fi < 0) return '#c8c8c8';
    var kind = frames[fi][2];
    var r = hash(d.data.n);
    if (kind === 'idle') return 'hsl(0,0%,' + (72 + r * 12).toFixed(0) + '%)';
    var hr = HUES[kind] || HUES.lua;
    var hue = hr[0] + r * (hr[1] - hr[0]);
    return 'hsl(' + hue.toFixed(0) + ',' + (kind === 'lua' ? 85 : 60) + '%,' + (55 + r * 12).toFixed(0) + '%)';
  }
  function diffColor(d) {
    if (d.highlight) return '#e600e6';
    var rel = d.data.rel || 0;
    var a = Math.min(1, Math.abs(rel));
    if (a < 0.02) return 'rgb(224,224,224)';
    var k = Math.round(225 * (1 - a));
    return rel > 0 ? 'rgb(255,' + k + ',' + k + ')' : 'rgb(' + k + ',' + k + ',255)';
  }

  // ---- tooltip ----
  var tipEl = $('tip');
  function pct(x, total) { return total > 0 ? (100 * x / total).toFixed(2) + '%' : '-'; }
  function fmtN(x) { return Number.isInteger(x) ? String(x) : (Math.round(x * 1000) / 1000).toString(); }
  function nodeSelf(x) {
    var s = x.v;
    if (x.c) for (var i = 0; i < x.c.length; i++) s -= x.c[i].v;
    return s;
  }
  function nodeSelfRaw(x, key) {
    var s = x[key];
    if (x.c) for (var i = 0; i < x.c.length; i++) s -= x.c[i][key];
    return s;
  }
  function describe(node) {
    var x = node.data;
    var lines = [x.n];
    if (x.fi >= 0 && frames[x.fi][1]) lines.push(frames[x.fi][1]);
    if (x.fi >= 0) lines.push('kind: ' + frames[x.fi][2]);
    if (!isDiff) {
      var tot = threadTotal();
      lines.push('total: ' + fmtN(x.v) + ' samples (' + pct(x.v, tot) + ')');
      lines.push('self:  ' + fmtN(x.v - x.k) + ' samples (' + pct(x.v - x.k, tot) + ')');
    } else {
      var bt = data.baseTotal, nt = data.newTotal;
      var bs = nodeSelfRaw(x, 'b'), ns = nodeSelfRaw(x, 'w');
      lines.push('total: base ' + pct(x.b, bt) + ' (' + fmtN(x.b) + ') \u2192 new ' + pct(x.w, nt) + ' (' + fmtN(x.w) + '), ' + pts(share(x.w, nt) - share(x.b, bt)));
      lines.push('self:  base ' + pct(bs, bt) + ' (' + fmtN(bs) + ') \u2192 new ' + pct(ns, nt) + ' (' + fmtN(ns) + '), ' + pts(share(ns, nt) - share(bs, bt)));
    }
    return lines.join('\n');
  }
  function pts(delta) { var p = 100 * delta; return (p >= 0 ? '+' : '') + p.toFixed(2) + ' pts'; }
  function tip() {}
  tip.show = function (event, d) {
    tipEl.textContent = describe(d);
    tipEl.hidden = false;
    moveTip(event);
    $('details').textContent = d.data.n + (d.data.fi >= 0 && frames[d.data.fi][1] ? '  ' + frames[d.data.fi][1] : '');
  };
  tip.hide = function () { tipEl.hidden = true; };
  function moveTip(event) {
    if (tipEl.hidden || !event) return;
    var x = event.clientX + 14, y = event.clientY + 14;
    var w = tipEl.offsetWidth, h = tipEl.offsetHeight;
    if (x + w > window.innerWidth) x = Math.max(0, event.clientX - w - 14);
    if (y + h > window.innerHeight) y = Math.max(0, event.clientY - h - 14);
    tipEl.style.left = x + 'px';
    tipEl.style.top = y + 'px';
  }
  $('chart').addEventListener('mousemove', moveTip);
  $('chart').addEventListener('mouseleave', function () { tip.hide(); });

  // ---- chart ----
  function matches(fi, term) { return fi >= 0 && lc[fi].indexOf(term) >= 0; }
  function render() {
    var root = currentRoot();
    forEach(root, function (x) { x.fade = false; x.hide = false; });
    var el = $('chart');
    el.textContent = '';
    var width = Math.max(300, el.clientWidth || 960);
    chart = flamegraph.default()
      .width(width)
      .cellHeight(18)
      .minFrameSize(1)
      .transitionDuration(0)
      .inverted(state.inverted)
      .tooltip(tip)
      .getName(function (d) { return d.data.n; })
      .setColorMapper(isDiff ? diffColor : kindColor)
      .setSearchMatch(function (d, term) { return matches(d.data.fi, term); })
      .setSearchHandler(onSearchResult)
      .onClick(function (d) {
        state.zoomed = d.data.fi >= 0 ? d.data.n : null;
        $('reset-zoom').disabled = !state.zoomed;
      });
    d3.select(el).datum(root).call(chart);
    chart.transitionDuration(250);
    state.zoomed = null;
    $('reset-zoom').disabled = true;
    if (state.term) chart.search(state.term);
    else $('match').textContent = '';
  }
  function onSearchResult(results, sum, total) {
    if (!state.term) { $('match').textContent = ''; return; }
    var denom = isDiff ? SCALE : total;
    var unit = isDiff ? '' : ' (' + fmtN(sum) + ' of ' + fmtN(total) + ' samples)';
    $('match').textContent = 'matched ' + pct(sum, denom) + unit + ', ' + results.length + ' frames';
    $('match').setAttribute('data-share', String(denom > 0 ? sum / denom : 0));
  }

  // ---- controls ----
  var threadSel = $('thread');
  if (isDiff) {
    var o = document.createElement('option');
    o.textContent = 'all threads';
    threadSel.appendChild(o);
    threadSel.disabled = true;
    $('widths-label').hidden = false;
  } else {
    data.threads.forEach(function (t, i) {
      var opt = document.createElement('option');
      opt.value = String(i);
      opt.textContent = t.label + ' \u2014 ' + fmtN(t.total) + ' samples';
      threadSel.appendChild(opt);
    });
    if (data.threads.length < 2) threadSel.disabled = true;
  }
  threadSel.addEventListener('change', function () {
    state.thread = Number(threadSel.value) || 0;
    render();
    renderTable();
  });
  $('widths').addEventListener('change', function () {
    state.widths = $('widths').value === 'base' ? 'base' : 'new';
    render();
  });
  $('toggle-layout').addEventListener('click', function () {
    state.inverted = !state.inverted;
    $('toggle-layout').textContent = state.inverted ? 'flame' : 'icicle';
    render();
  });
  $('reset-zoom').addEventListener('click', function () {
    if (chart) chart.resetZoom();
    state.zoomed = null;
    $('reset-zoom').disabled = true;
  });
  var searchTimer = 0;
  function applySearch() {
    state.term = $('search').value.trim().toLowerCase();
    if (!chart) return;
    if (state.term) chart.search(state.term);
    else { chart.clear(); $('match').textContent = ''; }
    renderTable();
  }
  $('search').addEventListener('input', function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(applySearch, 120);
  });
  $('search').addEventListener('keydown', function (e) {
    if (e.key === 'Enter') { clearTimeout(searchTimer); applySearch(); }
  });
  $('clear-search').addEventListener('click', function () { $('search').value = ''; applySearch(); });

  // ---- table ----
  // column: [header, key(row)->value, numeric, format, className(row)]
  function profileColumns() {
    var tot = data.threads[state.thread].total;
    return [
      ['Function', function (r) { return frames[r[0]][0]; }, false],
      ['Location', function (r) { return frames[r[0]][1]; }, false],
      ['Self', function (r) { return r[1]; }, true, fmtN],
      ['Self %', function (r) { return share(r[1], tot); }, true, pctOf],
      ['Total', function (r) { return r[2]; }, true, fmtN],
      ['Total %', function (r) { return share(r[2], tot); }, true, pctOf],
    ];
  }
  function diffColumns() {
    var bt = data.baseTotal, nt = data.newTotal;
    var dTot = function (r) { return share(r[4], nt) - share(r[2], bt); };
    var dSelf = function (r) { return share(r[3], nt) - share(r[1], bt); };
    return [
      ['Function', function (r) { return frames[r[0]][0]; }, false],
      ['Location', function (r) { return frames[r[0]][1]; }, false],
      ['Base self %', function (r) { return share(r[1], bt); }, true, pctOf],
      ['New self %', function (r) { return share(r[3], nt); }, true, pctOf],
      ['\u0394 self', dSelf, true, ptsOf, signClass],
      ['Base total %', function (r) { return share(r[2], bt); }, true, pctOf],
      ['New total %', function (r) { return share(r[4], nt); }, true, pctOf],
      ['\u0394 total', dTot, true, ptsOf, signClass],
      ['Samples base/new', function (r) { return r[4] + r[2] * 1e-9; }, true, null, null, function (r) { return fmtN(r[2]) + ' / ' + fmtN(r[4]); }],
      ['p', function (r) { return r[5]; }, true, function (p) { return p < 1e-4 ? p.toExponential(1) : p.toFixed(4); }],
      ['Significant', function (r) { return r[6] ? (dTot(r) > 0 ? 2 : 1) : 0; }, true, function (s) { return s === 2 ? 'regression' : s === 1 ? 'improvement' : ''; }],
    ];
  }
  function pctOf(x) { return (100 * x).toFixed(2) + '%'; }
  function ptsOf(x) { return pts(x); }
  function signClass(x) { return x > 0.00005 ? 'up' : x < -0.00005 ? 'down' : ''; }
  function tableRows() { return isDiff ? data.fn : data.threads[state.thread].fn; }
  function renderTable() {
    var cols = isDiff ? diffColumns() : profileColumns();
    if (state.sortKey === null || state.sortKey >= cols.length) {
      state.sortKey = isDiff ? 7 : 5;
      state.sortDir = -1;
    }
    var thead = $('fn-table').tHead;
    thead.textContent = '';
    var hr = document.createElement('tr');
    cols.forEach(function (c, ci) {
      var th = document.createElement('th');
      th.textContent = c[0];
      th.setAttribute('data-col', String(ci));
      if (c[2]) th.className = 'num';
      if (ci === state.sortKey) th.setAttribute('aria-sort', state.sortDir < 0 ? 'descending' : 'ascending');
      th.addEventListener('click', function () {
        if (state.sortKey === ci) state.sortDir = -state.sortDir;
        else { state.sortKey = ci; state.sortDir = c[2] ? -1 : 1; }
        renderTable();
      });
      hr.appendChild(th);
    });
    thead.appendChild(hr);
    var rows = tableRows();
    var term = state.term;
    if (term) rows = rows.filter(function (r) { return matches(r[0], term); });
    var key = cols[state.sortKey][1], numeric = cols[state.sortKey][2], dir = state.sortDir;
    var keyed = rows.map(function (r) { return [key(r), r]; });
    keyed.sort(function (a, b) {
      var x = a[0], y = b[0];
      if (numeric) return dir * (x - y);
      return dir * (x < y ? -1 : x > y ? 1 : 0);
    });
    var tbody = $('fn-table').tBodies[0];
    var frag = document.createDocumentFragment();
    var n = Math.min(keyed.length, MAX_ROWS);
    for (var i = 0; i < n; i++) {
      var r = keyed[i][1];
      var tr = document.createElement('tr');
      if (term) tr.className = 'hit';
      for (var ci = 0; ci < cols.length; ci++) {
        var c = cols[ci];
        var td = document.createElement('td');
        var val = c[1](r);
        td.textContent = c[5] ? c[5](r) : c[3] ? c[3](val) : String(val);
        var cls = c[2] ? 'num' : '';
        if (c[4]) cls += ' ' + c[4](val);
        if (cls) td.className = cls;
        if (ci === 0) td.title = frames[r[0]][0];
        tr.appendChild(td);
      }
      frag.appendChild(tr);
    }
    tbody.textContent = '';
    tbody.appendChild(frag);
    $('table-note').textContent = '(' + (keyed.length > MAX_ROWS ? 'top ' + MAX_ROWS + ' of ' : '') + keyed.length + (term ? ' matching' : '') + ')';
  }

  var resizeTimer = 0;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(render, 200);
  });

  render();
  renderTable();
  requestAnimationFrame(function () {
    setTimeout(function () {
      var ms = performance.now();
      document.body.setAttribute('data-ready', '1');
      document.body.setAttribute('data-ready-ms', ms.toFixed(1));
      document.body.setAttribute('data-script-ms', (ms - t0).toFixed(1));
      window.luaprofReport = { chart: function () { return chart; }, state: state, readyMs: ms };
    }, 0);
  });
})();
