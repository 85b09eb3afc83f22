// @ts-check
/* luaprof report page (runs in the browser; inlined into every HTML report).
 * Reads the JSON data block, rebuilds the call tree, drives d3-flame-graph.
 * Every string from the profile is inserted with textContent or d3's .text(): never as HTML.
 * Type-checked by `npm run typecheck` (tsconfig.page.json): the data block's types are the ones
 * report/html.ts writes (page-types.ts), the d3 globals and chart nodes are in page-globals.d.ts. */
/** @typedef {import('./page-types.js').PageData} PageData */
/** @typedef {import('./page-types.js').FlameData} FlameData */
/** @typedef {import('./page-types.js').FlameThreadData} FlameThreadData */
/** @typedef {import('./page-types.js').DiffPageData} DiffPageData */
/** @typedef {import('./page-globals.js').ProfileNode} ProfileNode */
/** @typedef {import('./page-globals.js').DiffNode} DiffNode */
/** @typedef {import('./page-globals.js').ChartNode} ChartNode */
/** @typedef {import('./page-globals.js').FlameNode} FlameNode */
/** @typedef {import('./page-globals.js').FlameGraph} FlameGraph */
/** @typedef {import('./page-globals.js').FlameGraphTooltip} FlameGraphTooltip */
/** A row of the functions table: FlameThreadData.fn or DiffPageData.fn. */
/** @typedef {number[]} Row */
/**
 * A table column: [header, value of a row, numeric, format of the value, class of the value,
 * text of a row (instead of the formatted value)].
 * @typedef {[string, (r: Row) => number | string, boolean, (((x: number) => string) | null)?, (((x: number) => string) | null)?, ((r: Row) => string)?]} Column
 */
(function () {
  'use strict';
  var t0 = performance.now();
  /** @type {PageData} */
  var data = JSON.parse(
    /** @type {string} */ (/** @type {HTMLElement} */ (document.getElementById('luaprof-data')).textContent),
  );
  var isDiff = data.mode === 'diff';
  // The same object seen as either mode: prof is read only when !isDiff, diff only when isDiff.
  var prof = /** @type {FlameData} */ (data);
  var diff = /** @type {DiffPageData} */ (data);
  var frames = data.frames;
  var SCALE = 1e6;
  var rowLimit = 200; // rows drawn; big tables are slow to lay out, 'show more' adds pages
  var lc = new Array(frames.length);
  for (var i = 0; i < frames.length; i++) lc[i] = (frames[i][0] + '\u0000' + frames[i][1]).toLowerCase();

  /** The page's elements all exist (flamegraph.html). */
  var $ = function (/** @type {string} */ id) {
    return /** @type {HTMLElement} */ (document.getElementById(id));
  };
  /** Form controls, by id. */
  var input = function (/** @type {string} */ id) {
    return /** @type {HTMLInputElement} */ ($(id));
  };
  var button = function (/** @type {string} */ id) {
    return /** @type {HTMLButtonElement} */ ($(id));
  };
  var state = {
    thread: 0,
    inverted: false,
    widths: 'new',
    term: '',
    sortKey: /** @type {number | null} */ (null),
    sortDir: -1,
    zoomed: /** @type {string | null} */ (null),
    focus: -1,
  };
  /** @type {FlameGraph | null} */
  var chart = null;

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
  // The file holds the whole call tree (exact); the chart gets the nodes that can be seen:
  // those at least 1/PRUNE_K of a pixel wide at the current width when zoomed PRUNE_K-fold.
  // Zooming into a node re-roots the chart on it with its full subtree (see onZoom).
  // Totals, self values, matched share and the table always come from the exact data.
  var PRUNE_K = 40;
  function chartWidth() {
    return Math.max(300, $('chart').clientWidth || 960);
  }
  /** @param {number} total */
  function minVisible(total) {
    return total / (chartWidth() * PRUNE_K);
  }
  // Builds data nodes for the subtree of packed node `from` (-1 = root), keeping nodes with v >= minV.
  /**
   * @param {FlameThreadData} th
   * @param {number} from
   * @param {number} minV
   * @returns {ProfileNode}
   */
  function buildProfileSubtree(th, from, minV) {
    var tr = prof.tree,
      f = tr.f,
      d = tr.d,
      v = th.v,
      n = f.length;
    /** @type {ProfileNode} */
    var root =
      from < 0
        ? { n: th.label, fi: -1, v: th.total, k: 0, i: -1 }
        : { n: frames[f[from]][0], fi: f[from], v: v[from], k: 0, i: from };
    var base = from < 0 ? 0 : d[from] + 1;
    /** @type {(ProfileNode | null)[]} */
    var stack = [];
    stack[base] = root;
    for (var i = from + 1; i < n; i++) {
      var depth = d[i];
      if (depth < base) break;
      var parent = stack[depth];
      if (!parent || v[i] === 0) {
        stack[depth + 1] = null;
        continue;
      }
      parent.k += v[i];
      if (v[i] < minV) {
        stack[depth + 1] = null;
        continue;
      }
      /** @type {ProfileNode} */
      var node = { n: frames[f[i]][0], fi: f[i], v: v[i], k: 0, i: i };
      if (!parent.c) parent.c = [];
      parent.c.push(node);
      stack[depth + 1] = node;
    }
    return root;
  }
  /**
   * @param {number} from
   * @param {number} minShare
   * @returns {DiffNode}
   */
  function buildDiffSubtree(from, minShare) {
    var tr = diff.tree,
      f = tr.f,
      d = tr.d,
      b = tr.b,
      w = tr.n,
      n = f.length;
    var bt = diff.baseTotal,
      nt = diff.newTotal;
    /** @type {DiffNode} */
    var root =
      from < 0
        ? { n: 'all', fi: -1, b: bt, w: nt, v: 0, dd: 0, i: -1, kb: 0, kw: 0 }
        : { n: frames[f[from]][0], fi: f[from], b: b[from], w: w[from], v: 0, dd: 0, i: from, kb: 0, kw: 0 };
    var base = from < 0 ? 0 : d[from] + 1;
    /** @type {(DiffNode | null)[]} */
    var stack = [];
    stack[base] = root;
    for (var i = from + 1; i < n; i++) {
      var depth = d[i];
      if (depth < base) break;
      var parent = stack[depth];
      if (!parent) {
        stack[depth + 1] = null;
        continue;
      }
      parent.kb += b[i];
      parent.kw += w[i];
      if (Math.max(share(b[i], bt), share(w[i], nt)) < minShare) {
        stack[depth + 1] = null;
        continue;
      }
      /** @type {DiffNode} */
      var node = { n: frames[f[i]][0], fi: f[i], b: b[i], w: w[i], v: 0, dd: 0, i: i, kb: 0, kw: 0 };
      if (!parent.c) parent.c = [];
      parent.c.push(node);
      stack[depth + 1] = node;
    }
    return root;
  }
  /**
   * Packed index path from the root to packed node i (inclusive).
   * @param {{ d: number[] }} tr
   * @param {number} i
   */
  function pathTo(tr, i) {
    var path = [i],
      want = tr.d[i] - 1;
    for (var j = i - 1; j >= 0 && want >= 0; j--)
      if (tr.d[j] === want) {
        path.unshift(j);
        want--;
      }
    return path;
  }
  /**
   * @param {DiffNode} root
   * @param {(x: DiffNode) => void} fn
   */
  function forEach(root, fn) {
    var todo = [root];
    while (todo.length) {
      var x = /** @type {DiffNode} */ (todo.pop());
      fn(x);
      if (x.c) for (var i = 0; i < x.c.length; i++) todo.push(x.c[i]);
    }
  }
  /**
   * @param {number} x
   * @param {number} total
   */
  function share(x, total) {
    return total > 0 ? x / total : 0;
  }
  /** @param {DiffNode} root */
  function applyDiffWidths(root) {
    var bt = diff.baseTotal,
      nt = diff.newTotal,
      useBase = state.widths === 'base';
    forEach(root, function (x) {
      var sb = share(x.b, bt),
        sn = share(x.w, nt);
      x.v = (useBase ? sb : sn) * SCALE;
      x.dd = (sn - sb) * SCALE;
      x.rel = Math.max(sb, sn) > 0 ? (sn - sb) / Math.max(sb, sn) : 0;
    });
  }
  // Chart data: whole tree pruned, or (after zooming into a node with hidden detail) the chain of
  // its ancestors with the node's subtree pruned relative to the node itself.
  /**
   * @param {number} [focus]
   * @returns {ChartNode}
   */
  function currentRoot(focus) {
    var tr = data.tree;
    /** @type {ChartNode} */
    var root;
    if (isDiff) root = buildDiffSubtree(-1, minVisible(1));
    else
      root = buildProfileSubtree(
        prof.threads[state.thread],
        -1,
        minVisible(prof.threads[state.thread].total),
      );
    if (focus !== undefined && focus >= 0) {
      var path = pathTo(tr, focus);
      /** @type {ChartNode} */
      var node = root;
      /** @type {ChartNode | null} */
      var target = null;
      for (var p = 0; p < path.length; p++) {
        /** @type {ChartNode | null} */
        var next = null;
        /** @type {ChartNode[] | undefined} */
        var kids = node.c;
        if (kids) for (var q = 0; q < kids.length; q++) if (kids[q].i === path[p]) next = kids[q];
        if (!next) break;
        if (p === path.length - 1) target = next;
        node = next;
      }
      if (target) {
        // Both kinds of node get the subtree's fields; the ones of the other kind are undefined.
        var t = /** @type {ProfileNode & DiffNode} */ (target);
        var sub = /** @type {ProfileNode & DiffNode} */ (
          isDiff
            ? buildDiffSubtree(
                focus,
                minVisible(Math.max(share(t.b, diff.baseTotal), share(t.w, diff.newTotal))),
              )
            : buildProfileSubtree(prof.threads[state.thread], focus, minVisible(t.v))
        );
        t.c = sub.c;
        t.k = sub.k;
        t.kb = sub.kb;
        t.kw = sub.kw;
      }
    }
    if (isDiff) applyDiffWidths(/** @type {DiffNode} */ (root));
    return root;
  }
  function threadTotal() {
    return isDiff ? SCALE : prof.threads[state.thread].total;
  }

  // ---- colours ----
  /** @param {string} s */
  function hash(s) {
    var h = 2166136261;
    for (var i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 16777619);
    }
    return ((h >>> 0) % 1000) / 1000;
  }
  /** @type {Record<string, [number, number]>} */
  var HUES = { lua: [18, 45], c: [175, 200], native: [0, 12], jit: [95, 130], gc: [270, 290], idle: [0, 0] };
  /** @param {FlameNode} d */
  function kindColor(d) {
    if (d.highlight) return '#e600e6';
    var fi = d.data.fi;
    if (fi < 0) return '#c8c8c8';
    var kind = frames[fi][2];
    var r = hash(d.data.n);
    if (kind === 'idle') return 'hsl(0,0%,' + (72 + r * 12).toFixed(0) + '%)';
    var hr = HUES[kind] || HUES.lua;
    var hue = hr[0] + r * (hr[1] - hr[0]);
    return (
      'hsl(' + hue.toFixed(0) + ',' + (kind === 'lua' ? 85 : 60) + '%,' + (55 + r * 12).toFixed(0) + '%)'
    );
  }
  /** @param {FlameNode} d */
  function diffColor(d) {
    if (d.highlight) return '#e600e6';
    var rel = /** @type {DiffNode} */ (d.data).rel || 0;
    var a = Math.min(1, Math.abs(rel));
    if (a < 0.02) return 'rgb(224,224,224)';
    var k = Math.round(225 * (1 - a));
    return rel > 0 ? 'rgb(255,' + k + ',' + k + ')' : 'rgb(' + k + ',' + k + ',255)';
  }

  // ---- tooltip ----
  var tipEl = $('tip');
  /**
   * @param {number} x
   * @param {number} total
   */
  function pct(x, total) {
    return total > 0 ? ((100 * x) / total).toFixed(2) + '%' : '-';
  }
  /** @param {number} x */
  function fmtN(x) {
    return Number.isInteger(x) ? String(x) : (Math.round(x * 1000) / 1000).toString();
  }
  /**
   * @param {DiffNode} x
   * @param {'b' | 'w'} key
   */
  function nodeSelfRaw(x, key) {
    return key === 'b' ? x.b - x.kb : x.w - x.kw;
  }
  /** @param {FlameNode} node */
  function describe(node) {
    var x = node.data;
    var lines = [x.n];
    if (x.fi >= 0 && frames[x.fi][1]) lines.push(frames[x.fi][1]);
    if (x.fi >= 0) lines.push('kind: ' + frames[x.fi][2]);
    if (!isDiff) {
      var px = /** @type {ProfileNode} */ (x);
      var tot = threadTotal();
      lines.push('total: ' + fmtN(px.v) + ' samples (' + pct(px.v, tot) + ')');
      lines.push('self:  ' + fmtN(px.v - px.k) + ' samples (' + pct(px.v - px.k, tot) + ')');
    } else {
      var dx = /** @type {DiffNode} */ (x);
      var bt = diff.baseTotal,
        nt = diff.newTotal;
      var bs = nodeSelfRaw(dx, 'b'),
        ns = nodeSelfRaw(dx, 'w');
      lines.push(
        'total: base ' +
          pct(dx.b, bt) +
          ' (' +
          fmtN(dx.b) +
          ') \u2192 new ' +
          pct(dx.w, nt) +
          ' (' +
          fmtN(dx.w) +
          '), ' +
          pts(share(dx.w, nt) - share(dx.b, bt)),
      );
      lines.push(
        'self:  base ' +
          pct(bs, bt) +
          ' (' +
          fmtN(bs) +
          ') \u2192 new ' +
          pct(ns, nt) +
          ' (' +
          fmtN(ns) +
          '), ' +
          pts(share(ns, nt) - share(bs, bt)),
      );
    }
    return lines.join('\n');
  }
  /** @param {number} delta */
  function pts(delta) {
    var p = 100 * delta;
    return (p >= 0 ? '+' : '') + p.toFixed(2) + ' pts';
  }
  var tip = /** @type {FlameGraphTooltip} */ (function () {});
  tip.show = function (event, d) {
    tipEl.textContent = describe(d);
    tipEl.hidden = false;
    moveTip(event);
    $('details').textContent =
      d.data.n + (d.data.fi >= 0 && frames[d.data.fi][1] ? '  ' + frames[d.data.fi][1] : '');
  };
  tip.hide = function () {
    tipEl.hidden = true;
  };
  /** @param {MouseEvent} [event] */
  function moveTip(event) {
    if (tipEl.hidden || !event) return;
    var x = event.clientX + 14,
      y = event.clientY + 14;
    var w = tipEl.offsetWidth,
      h = tipEl.offsetHeight;
    if (x + w > window.innerWidth) x = Math.max(0, event.clientX - w - 14);
    if (y + h > window.innerHeight) y = Math.max(0, event.clientY - h - 14);
    tipEl.style.left = x + 'px';
    tipEl.style.top = y + 'px';
  }
  $('chart').addEventListener('mousemove', moveTip);
  $('chart').addEventListener('mouseleave', function () {
    tip.hide();
  });

  // ---- chart ----
  /**
   * @param {number} fi
   * @param {string} term
   */
  function matches(fi, term) {
    return fi >= 0 && lc[fi].indexOf(term) >= 0;
  }
  /** @param {number} [focus] */
  function render(focus) {
    var root = currentRoot(focus);
    var el = $('chart');
    el.textContent = '';
    var ch = flamegraph
      .default()
      .width(chartWidth())
      .cellHeight(18)
      .minFrameSize(1)
      .transitionDuration(0)
      .inverted(state.inverted)
      .tooltip(tip)
      .getName(function (d) {
        return d.data.n;
      })
      .setColorMapper(isDiff ? diffColor : kindColor)
      .setSearchMatch(function (d, term) {
        return matches(d.data.fi, term);
      })
      .setSearchHandler(function () {
        showMatch();
      })
      .onClick(onZoom);
    chart = ch;
    lastWidth = chartWidth();
    d3.select(el).datum(root).call(ch);
    state.focus = focus === undefined ? -1 : focus;
    state.zoomed = null;
    if (focus !== undefined && focus >= 0) {
      var target = d3
        .select(el)
        .datum()
        .descendants()
        .find(function (n) {
          return n.data.i === focus;
        });
      if (target) {
        ch.zoomTo(target);
        state.zoomed = target.data.n;
      }
    }
    ch.transitionDuration(250);
    button('reset-zoom').disabled = !state.zoomed;
    $('chart').setAttribute('data-zoomed', state.zoomed || '');
    if (state.term) ch.search(state.term);
    showMatch();
  }
  /** @param {FlameNode} d */
  function onZoom(d) {
    var x = d.data;
    var total = isDiff ? 1 : prof.threads[state.thread].total;
    var size = isDiff
      ? Math.max(
          share(/** @type {DiffNode} */ (x).b, diff.baseTotal),
          share(/** @type {DiffNode} */ (x).w, diff.newTotal),
        )
      : x.v;
    state.zoomed = x.fi >= 0 ? x.n : null;
    button('reset-zoom').disabled = !state.zoomed;
    $('chart').setAttribute('data-zoomed', state.zoomed || '');
    // Re-root with the node's full detail when zooming this far would reveal pruned frames.
    if (x.i >= 0 && x.i !== state.focus && size < total / PRUNE_K) {
      var keep = x.i;
      setTimeout(function () {
        render(keep);
      }, 0);
    }
  }
  /** Exact share of samples whose stack contains a matching frame (from the whole tree). */
  /** @param {string} term */
  function matchedShare(term) {
    var tr = data.tree;
    var f = tr.f,
      d = tr.d,
      n = f.length;
    var vals = isDiff ? (state.widths === 'base' ? diff.tree.b : diff.tree.n) : prof.threads[state.thread].v;
    var total = isDiff
      ? state.widths === 'base'
        ? diff.baseTotal
        : diff.newTotal
      : prof.threads[state.thread].total;
    var sum = 0,
      md = -1,
      frames = 0;
    for (var i = 0; i < n; i++) {
      if (md >= 0 && d[i] <= md) md = -1;
      if (matches(f[i], term)) {
        frames++;
        if (md < 0) {
          sum += vals[i];
          md = d[i];
        }
      }
    }
    return { sum: sum, total: total, frames: frames };
  }
  function showMatch() {
    var m = $('match');
    if (!state.term) {
      m.textContent = '';
      m.removeAttribute('data-share');
      return;
    }
    var r = matchedShare(state.term);
    var unit = isDiff ? ' of ' + state.widths : ' (' + fmtN(r.sum) + ' of ' + fmtN(r.total) + ' samples)';
    m.textContent = 'matched ' + pct(r.sum, r.total) + unit + ', ' + r.frames + ' call-tree nodes';
    m.setAttribute('data-share', String(r.total > 0 ? r.sum / r.total : 0));
  }

  // ---- controls ----
  var threadSel = /** @type {HTMLSelectElement} */ ($('thread'));
  if (isDiff) {
    var o = document.createElement('option');
    o.textContent = 'all threads';
    threadSel.appendChild(o);
    threadSel.disabled = true;
    $('widths-label').hidden = false;
  } else {
    prof.threads.forEach(function (t, i) {
      var opt = document.createElement('option');
      opt.value = String(i);
      opt.textContent = t.label + ' \u2014 ' + fmtN(t.total) + ' samples';
      threadSel.appendChild(opt);
    });
    if (prof.threads.length < 2) threadSel.disabled = true;
  }
  threadSel.addEventListener('change', function () {
    state.thread = Number(threadSel.value) || 0;
    render();
    renderTable();
  });
  $('widths').addEventListener('change', function () {
    state.widths = input('widths').value === 'base' ? 'base' : 'new';
    render();
  });
  $('toggle-layout').addEventListener('click', function () {
    state.inverted = !state.inverted;
    $('toggle-layout').textContent = state.inverted ? 'flame' : 'icicle';
    render();
  });
  $('reset-zoom').addEventListener('click', function () {
    if (state.focus >= 0) render();
    else if (chart) chart.resetZoom();
    state.zoomed = null;
    button('reset-zoom').disabled = true;
    $('chart').setAttribute('data-zoomed', '');
  });
  var searchTimer = 0;
  function applySearch() {
    state.term = input('search').value.trim().toLowerCase();
    if (!chart) return;
    if (state.term) chart.search(state.term);
    else chart.clear();
    showMatch();
    renderTable();
  }
  $('search').addEventListener('input', function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(applySearch, 120);
  });
  $('search').addEventListener('keydown', function (e) {
    if (e.key === 'Enter') {
      clearTimeout(searchTimer);
      applySearch();
    }
  });
  $('clear-search').addEventListener('click', function () {
    input('search').value = '';
    applySearch();
  });

  // ---- table ----
  // column: [header, key(row)->value, numeric, format, className(row)]
  /** @returns {Column[]} */
  function profileColumns() {
    var tot = prof.threads[state.thread].total;
    return [
      [
        'Function',
        function (r) {
          return frames[r[0]][0];
        },
        false,
      ],
      [
        'Location',
        function (r) {
          return frames[r[0]][1];
        },
        false,
      ],
      [
        'Self',
        function (r) {
          return r[1];
        },
        true,
        fmtN,
      ],
      [
        'Self %',
        function (r) {
          return share(r[1], tot);
        },
        true,
        pctOf,
      ],
      [
        'Total',
        function (r) {
          return r[2];
        },
        true,
        fmtN,
      ],
      [
        'Total %',
        function (r) {
          return share(r[2], tot);
        },
        true,
        pctOf,
      ],
    ];
  }
  /** @returns {Column[]} */
  function diffColumns() {
    var bt = diff.baseTotal,
      nt = diff.newTotal;
    var dTot = function (/** @type {Row} */ r) {
      return share(r[4], nt) - share(r[2], bt);
    };
    var dSelf = function (/** @type {Row} */ r) {
      return share(r[3], nt) - share(r[1], bt);
    };
    return [
      [
        'Function',
        function (r) {
          return frames[r[0]][0];
        },
        false,
      ],
      [
        'Location',
        function (r) {
          return frames[r[0]][1];
        },
        false,
      ],
      [
        'Base self %',
        function (r) {
          return share(r[1], bt);
        },
        true,
        pctOf,
      ],
      [
        'New self %',
        function (r) {
          return share(r[3], nt);
        },
        true,
        pctOf,
      ],
      ['\u0394 self', dSelf, true, ptsOf, signClass],
      [
        'Base total %',
        function (r) {
          return share(r[2], bt);
        },
        true,
        pctOf,
      ],
      [
        'New total %',
        function (r) {
          return share(r[4], nt);
        },
        true,
        pctOf,
      ],
      ['\u0394 total', dTot, true, ptsOf, signClass],
      [
        'Samples base/new',
        function (r) {
          return r[4] + r[2] * 1e-9;
        },
        true,
        null,
        null,
        function (r) {
          return fmtN(r[2]) + ' / ' + fmtN(r[4]);
        },
      ],
      [
        'p',
        function (r) {
          return r[5];
        },
        true,
        function (p) {
          return p < 1e-4 ? p.toExponential(1) : p.toFixed(4);
        },
      ],
      [
        'Significant',
        function (r) {
          return r[6] ? (dTot(r) > 0 ? 2 : 1) : 0;
        },
        true,
        function (s) {
          return s === 2 ? 'regression' : s === 1 ? 'improvement' : '';
        },
      ],
    ];
  }
  /** @param {number} x */
  function pctOf(x) {
    return (100 * x).toFixed(2) + '%';
  }
  /** @param {number} x */
  function ptsOf(x) {
    return pts(x);
  }
  /** @param {number} x */
  function signClass(x) {
    return x > 0.00005 ? 'up' : x < -0.00005 ? 'down' : '';
  }
  /** @returns {Row[]} */
  function tableRows() {
    return isDiff ? diff.fn : prof.threads[state.thread].fn;
  }
  function renderTable() {
    var cols = isDiff ? diffColumns() : profileColumns();
    if (state.sortKey === null || state.sortKey >= cols.length) {
      state.sortKey = isDiff ? 7 : 5;
      state.sortDir = -1;
    }
    var table = /** @type {HTMLTableElement} */ ($('fn-table'));
    var sortKey = /** @type {number} */ (state.sortKey);
    var thead = /** @type {HTMLTableSectionElement} */ (table.tHead);
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
        else {
          state.sortKey = ci;
          state.sortDir = c[2] ? -1 : 1;
        }
        renderTable();
      });
      hr.appendChild(th);
    });
    thead.appendChild(hr);
    var rows = tableRows();
    var term = state.term;
    if (term)
      rows = rows.filter(function (r) {
        return matches(r[0], term);
      });
    var key = cols[sortKey][1],
      numeric = cols[sortKey][2],
      dir = state.sortDir;
    var keyed = rows.map(function (r) {
      return /** @type {[number | string, Row]} */ ([key(r), r]);
    });
    keyed.sort(function (a, b) {
      var x = a[0],
        y = b[0];
      if (numeric) {
        var nx = /** @type {number} */ (x);
        var ny = /** @type {number} */ (y);
        return dir * (nx - ny);
      }
      return dir * (x < y ? -1 : x > y ? 1 : 0);
    });
    var tbody = table.tBodies[0];
    var frag = document.createDocumentFragment();
    var n = Math.min(keyed.length, rowLimit);
    for (var i = 0; i < n; i++) {
      var r = keyed[i][1];
      var tr = document.createElement('tr');
      if (term) tr.className = 'hit';
      for (var ci = 0; ci < cols.length; ci++) {
        var c = cols[ci];
        var td = document.createElement('td');
        var val = c[1](r);
        td.textContent = c[5] ? c[5](r) : c[3] ? c[3](/** @type {number} */ (val)) : String(val);
        var cls = c[2] ? 'num' : '';
        if (c[4]) cls += ' ' + c[4](/** @type {number} */ (val));
        if (cls) td.className = cls;
        if (ci === 0) td.title = frames[r[0]][0];
        tr.appendChild(td);
      }
      frag.appendChild(tr);
    }
    tbody.textContent = '';
    tbody.appendChild(frag);
    $('table-note').textContent =
      '(' +
      (keyed.length > rowLimit ? 'top ' + rowLimit + ' of ' : '') +
      keyed.length +
      (term ? ' matching' : '') +
      ')';
    $('more-rows').hidden = keyed.length <= rowLimit;
  }

  $('more-rows').addEventListener('click', function () {
    rowLimit += 500;
    renderTable();
  });

  var resizeTimer = 0;
  var lastWidth = 0;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      if (chartWidth() !== lastWidth) render(state.focus >= 0 ? state.focus : undefined);
    }, 200);
  });

  render();
  renderTable();
  requestAnimationFrame(function () {
    setTimeout(function () {
      var ms = performance.now();
      document.body.setAttribute('data-ready', '1');
      document.body.setAttribute('data-ready-ms', ms.toFixed(1));
      document.body.setAttribute('data-script-ms', (ms - t0).toFixed(1));
      window.luaprofReport = {
        chart: function () {
          return chart;
        },
        state: state,
        readyMs: ms,
      };
    }, 0);
  });
})();
