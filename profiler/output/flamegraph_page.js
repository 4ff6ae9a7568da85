// The interactive flame graph of pureprof's HTML output. The page embeds the call tree that
// profiler/output/call_tree.py built (nodes in preorder, children sorted by name) as JSON; this
// script lays it out once, draws it on one canvas (frames narrower than a pixel are skipped with
// their subtrees, so a redraw costs what is visible), and answers search, zoom and hover.
(function () {
  'use strict';
  const t0 = performance.now();
  const data = JSON.parse(document.getElementById('profile-data').textContent);
  const tParsed = performance.now();

  const ROW = 17;          // pixels per stack level
  const MIN_WIDTH = 0.35;  // frames narrower than this (pixels) are not drawn, nor their callees
  const S = data.strings;
  const F = data.frames;
  const N = data.nodes;
  const n = N.frame.length;
  const frameOf = Int32Array.from(N.frame);
  const depth = Int32Array.from(N.depth);
  const total = Float64Array.from(N.total);
  const count = N.count ? Float64Array.from(N.count) : null;
  const line = Int32Array.from(N.line);
  const frameColor = F.color.map(c => '#' + c.toString(16).padStart(6, '0'));
  const MATCH = '#' + data.match.toString(16).padStart(6, '0');

  // Layout: each node's offset (in value units) from the left, its parent, the end of its
  // subtree in preorder, and its self value and count.
  const x = new Float64Array(n);
  const parent = new Int32Array(n);
  const end = new Int32Array(n);
  const selfValue = Float64Array.from(total);
  const selfCount = count ? Float64Array.from(count) : null;
  const used = new Float64Array(n);  // value of the children placed so far, per node
  let maxDepth = 0;
  {
    const stack = [0];
    parent[0] = -1;
    for (let i = 1; i < n; i++) {
      const d = depth[i];
      while (depth[stack[stack.length - 1]] >= d) end[stack.pop()] = i;
      const p = stack[stack.length - 1];
      parent[i] = p;
      x[i] = x[p] + used[p];
      used[p] += total[i];
      selfValue[p] -= total[i];
      if (selfCount) selfCount[p] -= count[i];
      stack.push(i);
      if (d > maxDepth) maxDepth = d;
    }
    while (stack.length) end[stack.pop()] = n;
  }
  const tLayout = performance.now();

  const chart = document.getElementById('chart');
  const canvas = document.getElementById('flame');
  const ctx = canvas.getContext('2d');
  const hoverBox = document.getElementById('hover');
  const searchBox = document.getElementById('search');
  const matchedText = document.getElementById('matched');
  const zoomedText = document.getElementById('zoomed');
  const resetButton = document.getElementById('reset');
  const orientButton = document.getElementById('orientation');
  const details = document.getElementById('details');

  let zoom = 0;          // the node shown full width
  let icicle = false;    // flame: root at the bottom; icicle: root at the top
  let matched = null;    // Uint8Array per frame when a search is active
  let hovered = -1;
  let width = 0;
  let height = 0;
  let charWidth = 7;
  const timings = {parse: tParsed - t0, layout: tLayout - tParsed, firstDraw: 0, draw: 0,
                   search: 0};

  function nameOf(i) { return i === 0 ? 'all' : S[F.name[frameOf[i]]]; }

  function rowY(d) { return icicle ? d * ROW : height - (d + 1) * ROW; }

  function fmtValue(v) {
    v *= data.scale;
    const unit = data.valueType.unit;
    const steps = {
      nanoseconds: [[1e9, 's'], [1e6, 'ms'], [1e3, 'µs'], [1, 'ns']],
      microseconds: [[1e6, 's'], [1e3, 'ms'], [1, 'µs']],
      milliseconds: [[1e3, 's'], [1, 'ms']],
      bytes: [[1 << 30, 'GiB'], [1 << 20, 'MiB'], [1 << 10, 'KiB'], [1, 'B']],
    }[unit];
    if (!steps) return Math.round(v).toLocaleString('en-US') + (unit === 'count' ? '' : ' ' + unit);
    // Four significant digits, trailing zeros of the fraction dropped ("1.5 s", "1500 s").
    const short = x => (Math.abs(x) >= 1e4 ? Math.round(x).toString()
                        : x.toPrecision(4).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, ''));
    for (const [f, s] of steps) if (Math.abs(v) >= f) return short(v / f) + ' ' + s;
    return '0 ' + steps[steps.length - 1][1];
  }
  function pct(v, of) { return of > 0 ? (100 * v / of).toFixed(2) + '%' : '0%'; }

  function resize() {
    const dpr = window.devicePixelRatio || 1;
    width = chart.clientWidth;
    height = (maxDepth + 1) * ROW + 4;
    canvas.style.width = width + 'px';
    canvas.style.height = height + 'px';
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = '12px ui-monospace, "DejaVu Sans Mono", monospace';
    ctx.textBaseline = 'middle';
    charWidth = ctx.measureText('mmmmmmmmmm').width / 10 || 7;
  }

  function drawFrame(i, left, w, faded) {
    const y = rowY(depth[i]);
    const isMatch = matched !== null && i > 0 && matched[frameOf[i]];
    ctx.globalAlpha = faded ? 0.55 : 1;
    ctx.fillStyle = isMatch ? MATCH : (i === 0 ? '#d8d8d8' : frameColor[frameOf[i]]);
    ctx.fillRect(left, y, Math.max(w - 0.5, 0.5), ROW - 1);
    if (w > 4 * charWidth) {
      const chars = Math.floor((w - 6) / charWidth);
      let label = nameOf(i);
      if (label.length > chars) label = label.slice(0, Math.max(chars - 2, 1)) + '..';
      ctx.fillStyle = '#000';
      ctx.fillText(label, left + 3, y + ROW / 2);
    }
  }

  // The visible part of the tree: the zoomed node's ancestors (full width, faded) and its subtree.
  function draw() {
    const t = performance.now();
    ctx.clearRect(0, 0, width, height);
    const x0 = x[zoom];
    const scale = width / (total[zoom] || 1);
    for (let a = parent[zoom]; a >= 0; a = parent[a]) drawFrame(a, 0, width, true);
    const stop = end[zoom];
    for (let i = zoom; i < stop;) {
      const w = total[i] * scale;
      if (w < MIN_WIDTH) { i = end[i]; continue; }
      drawFrame(i, (x[i] - x0) * scale, w, false);
      i++;
    }
    ctx.globalAlpha = 1;
    timings.draw = performance.now() - t;
    placeHover();
  }

  // The node drawn at canvas coordinates (cx, cy), or -1: the hit test clicks and hovers use.
  function nodeAt(cx, cy) {
    if (cx < 0 || cx >= width || cy < 0 || cy >= height) return -1;
    const d = icicle ? Math.floor(cy / ROW) : Math.floor((height - cy) / ROW);
    if (d < 0 || (cy - rowY(d)) >= ROW - 1) return -1;
    if (d < depth[zoom]) {
      let a = zoom;
      while (a >= 0 && depth[a] > d) a = parent[a];
      return a;
    }
    const scale = width / (total[zoom] || 1);
    const v = x[zoom] + cx / scale;
    let node = zoom;
    while (depth[node] < d) {
      let next = -1;
      for (let c = node + 1; c < end[node]; c = end[c]) {
        if (v >= x[c] && v < x[c] + total[c]) { next = c; break; }
      }
      if (next < 0) return -1;
      node = next;
    }
    return total[node] * scale >= MIN_WIDTH ? node : -1;
  }

  // Where node i is drawn on the canvas ({left, top, width, height}; null if it is not drawn).
  function canvasRect(i) {
    const scale = width / (total[zoom] || 1);
    let left, w;
    if (i === zoom || isAncestor(i, zoom)) { left = 0; w = width; }
    else if (isAncestor(zoom, i)) { left = (x[i] - x[zoom]) * scale; w = total[i] * scale; }
    else return null;
    if (w < MIN_WIDTH) return null;
    return {left, top: rowY(depth[i]), width: w, height: ROW - 1};
  }
  function isAncestor(a, i) { return a <= i && i < end[a] && a !== i; }

  function placeHover() {
    const r = hovered >= 0 ? canvasRect(hovered) : null;
    if (!r) { hoverBox.style.display = 'none'; return; }
    hoverBox.style.display = 'block';
    hoverBox.style.left = (canvas.offsetLeft + r.left) + 'px';
    hoverBox.style.top = (canvas.offsetTop + r.top) + 'px';
    hoverBox.style.width = r.width + 'px';
    hoverBox.style.height = r.height + 'px';
  }

  // Two fixed lines (the layout must not move under the mouse): the function, then where it
  // is and what it costs.
  function showDetails(i) {
    details.textContent = '';
    const first = document.createElement('div');
    const second = document.createElement('div');
    details.append(first, second);
    const add = (row, cls, text) => {
      const s = document.createElement('span');
      s.className = cls;
      s.textContent = text;
      row.appendChild(s);
    };
    const all = total[0];
    if (i < 0) {
      add(first, 'where', 'Hover over a frame for its details; click to zoom, Escape to zoom out.');
      add(second, 'values', 'all: ' + fmtValue(all) +
          (count ? ' · ' + Math.round(count[0]).toLocaleString('en-US') + ' ' +
                   data.countType.type : ''));
      return;
    }
    add(first, 'name', nameOf(i));
    if (i > 0) add(first, 'kind', '[' + data.kinds[F.kind[frameOf[i]]] + ']');
    const f = i > 0 ? frameOf[i] : -1;
    const file = f >= 0 ? S[F.file[f]] : '';
    const module = f >= 0 ? S[F.module[f]] : '';
    const where = [];
    if (file) where.push(line[i] ? file + ':' + line[i] : file);
    if (module && module !== file) where.push(module);
    if (where.length) add(second, 'where', where.join(' — ') + ' · ');
    let text = 'total ' + fmtValue(total[i]) + ' (' + pct(total[i], all) + ')' +
               ', self ' + fmtValue(selfValue[i]) + ' (' + pct(selfValue[i], all) + ')';
    if (count) {
      text += ' · ' + Math.round(count[i]).toLocaleString('en-US') + ' ' + data.countType.type +
              ' total, ' + Math.round(selfCount[i]).toLocaleString('en-US') + ' self';
    }
    add(second, 'values', text);
  }

  function setZoom(i) {
    zoom = i;
    resetButton.disabled = zoom === 0;
    zoomedText.textContent = zoom === 0 ? '' : 'Zoomed to: ' + nameOf(zoom);
    hovered = -1;
    draw();
    showDetails(zoom === 0 ? -1 : zoom);
  }

  function matcher(query) {
    const re = /^\/(.+)\/(i?)$/.exec(query);
    if (re) {
      try { const r = new RegExp(re[1], re[2]); return s => r.test(s); }
      catch (e) { return null; }
    }
    const q = query.toLowerCase();
    return s => s.toLowerCase().includes(q);
  }

  function search(query) {
    const t = performance.now();
    const test = query ? matcher(query) : null;
    if (!test) {
      matched = null;
      matchedText.textContent = query ? 'invalid regular expression' : '';
    } else {
      const names = F.name;
      matched = new Uint8Array(names.length);
      for (let f = 0; f < names.length; f++) matched[f] = test(S[names[f]]) ? 1 : 0;
      // A matched node's callees are inside its total already: count the outermost only.
      let sum = 0;
      let coveredUntil = 0;
      for (let i = 1; i < n; i++) {
        if (i >= coveredUntil && matched[frameOf[i]]) { sum += total[i]; coveredUntil = end[i]; }
      }
      matchedText.textContent = 'Matched: ' + pct(sum, total[0]) + ' (' + fmtValue(sum) +
                                ' of ' + fmtValue(total[0]) + ')';
    }
    draw();
    timings.search = performance.now() - t;  // matching and redrawing
  }

  function canvasPoint(ev) {
    const r = canvas.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top];
  }

  canvas.addEventListener('mousemove', ev => {
    const i = nodeAt(...canvasPoint(ev));
    if (i === hovered) return;
    hovered = i;
    placeHover();
    showDetails(i >= 0 ? i : (zoom === 0 ? -1 : zoom));
    canvas.style.cursor = i >= 0 ? 'pointer' : 'default';
  });
  canvas.addEventListener('mouseleave', () => {
    hovered = -1;
    placeHover();
    showDetails(zoom === 0 ? -1 : zoom);
  });
  canvas.addEventListener('click', ev => {
    const i = nodeAt(...canvasPoint(ev));
    if (i >= 0) setZoom(i);
  });
  resetButton.addEventListener('click', () => setZoom(0));
  orientButton.addEventListener('click', () => {
    icicle = !icicle;
    chart.classList.toggle('icicle', icicle);
    orientButton.textContent = icicle ? 'Flame' : 'Icicle';
    orientButton.title = icicle ? 'Root at the bottom' : 'Root at the top';
    draw();
    if (!icicle) chart.scrollTop = chart.scrollHeight;
  });
  searchBox.addEventListener('input', () => search(searchBox.value));
  document.addEventListener('keydown', ev => {
    if (ev.key === 'Escape') {
      if (document.activeElement === searchBox && searchBox.value) {
        searchBox.value = '';
        search('');
      } else setZoom(0);
    } else if ((ev.key === '/' && document.activeElement !== searchBox) ||
               (ev.key === 'f' && (ev.ctrlKey || ev.metaKey))) {
      ev.preventDefault();
      searchBox.focus();
      searchBox.select();
    }
  });
  window.addEventListener('resize', () => { resize(); draw(); });

  resize();
  draw();
  showDetails(-1);
  chart.scrollTop = chart.scrollHeight;
  timings.firstDraw = performance.now();

  // For tests and the curious: find nodes, where they are drawn, and the hit test clicks use.
  window.pureprofFlame = {
    timings,
    nodes: n,
    nodesNamed: name => { const out = []; for (let i = 1; i < n; i++) if (nameOf(i) === name) out.push(i); return out; },
    name: nameOf,
    // Where node i is drawn, in viewport (client) coordinates, or null.
    clientRect: i => {
      const r = canvasRect(i);
      if (!r) return null;
      const c = canvas.getBoundingClientRect();
      return {x: c.left + r.left, y: c.top + r.top, width: r.width, height: r.height};
    },
    nodeAt: (clientX, clientY) => {
      const c = canvas.getBoundingClientRect();
      return nodeAt(clientX - c.left, clientY - c.top);
    },
    zoomed: () => zoom,
    icicle: () => icicle,
  };
})();
