"""The page's script and style sheet, as strings embedded in every report.

The script reads the JSON document of :mod:`emkit.report.frames` from the
``<script type="application/json" id="emkit-data">`` element and draws the step
explorer into inline SVG: the points (coloured by their component at the shown
step) with 1σ and 2σ ellipses, or a histogram with the component densities in
1-D, or an HMM's sequence with its decoded states and each state's mean ± sd;
under it, the log-likelihood of every step with the shown one marked. A slider
(``#step``) and a play button (``#play``) choose the step. Plain ES5, no
libraries, nothing fetched: the page works offline.
"""

from __future__ import annotations

__all__ = ["SCRIPT", "STYLE"]

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1000px;
padding:1em 1.5em;color:#222;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;
border-bottom:1px solid #ddd}
.summary{color:#444}.notes{background:#f4f6fb;border-left:4px solid #6b8fd6;padding:.4em .8em}
.warnings{background:#fff6e5;border-left:4px solid #e0a030;padding:.4em .8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ddd;padding:.2em .6em;text-align:right}
caption{text-align:left;font-weight:600;padding:.2em 0}
td.best{background:#dff0d8;font-weight:700}td.failed{color:#999}
table.facts th{text-align:left;background:#fafafa}
.controls{display:flex;gap:1em;align-items:center;margin:.5em 0}
#step{flex:1}#play{min-width:5em}svg{background:#fff;border:1px solid #eee}
#step-label{font-variant-numeric:tabular-nums;min-height:1.4em}
.params-text{font-family:monospace;font-size:.85em;word-break:break-all}
code{font-size:.85em;word-break:break-all}
"""

SCRIPT = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("emkit-data").textContent);
  var E = D.explorer, C = D.curve, COLORS = D.colors, NS = "http://www.w3.org/2000/svg";
  var fig = document.getElementById("figure"), curve = document.getElementById("loglik");
  var slider = document.getElementById("step"), play = document.getElementById("play");
  var label = document.getElementById("step-label");
  var W = 640, H = 400, M = {l: 56, r: 14, t: 12, b: 34};
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) { if (attrs.hasOwnProperty(k)) { e.setAttribute(k, attrs[k]); } }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function color(k) { return k < 0 ? "#999" : COLORS[k % COLORS.length]; }
  function extent(values) {
    var lo = Infinity, hi = -Infinity;
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (v !== null && isFinite(v)) { if (v < lo) { lo = v; } if (v > hi) { hi = v; } }
    }
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (hi <= lo) { lo -= 0.5; hi += 0.5; }
    var pad = 0.06 * (hi - lo);
    return [lo - pad, hi + pad];
  }
  function scale(dom, a, b) {
    var s = (b - a) / (dom[1] - dom[0]);
    return function (v) { return a + (v - dom[0]) * s; };
  }
  function fmt(v) { return Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ?
    v.toExponential(2) : String(Math.round(v * 1000) / 1000); }
  function axes(svg, xd, yd, w, h, xlab, ylab) {
    var g = el("g", {"class": "axes", "font-size": "11", fill: "#555"}, svg);
    el("rect", {x: M.l, y: M.t, width: w - M.l - M.r, height: h - M.t - M.b, fill: "none",
                stroke: "#ccc"}, g);
    var sx = scale(xd, M.l, w - M.r), sy = scale(yd, h - M.b, M.t), i, v, t;
    for (i = 0; i <= 4; i++) {
      v = xd[0] + (xd[1] - xd[0]) * (i + 0.5) / 5;
      t = el("text", {x: sx(v), y: h - M.b + 14, "text-anchor": "middle"}, g);
      t.textContent = fmt(v);
      v = yd[0] + (yd[1] - yd[0]) * (i + 0.5) / 5;
      t = el("text", {x: M.l - 4, y: sy(v) + 4, "text-anchor": "end"}, g);
      t.textContent = fmt(v);
    }
    t = el("text", {x: (M.l + w - M.r) / 2, y: h - 4, "text-anchor": "middle"}, g);
    t.textContent = xlab;
    t = el("text", {x: 12, y: (M.t + h - M.b) / 2, "text-anchor": "middle",
                    transform: "rotate(-90 12 " + ((M.t + h - M.b) / 2) + ")"}, g);
    t.textContent = ylab;
    return [sx, sy];
  }
  var draw = function () {};
  var frames = E.frames, names = D.names;
  if (E.kind === "mixture2d") {
    var P = E.points, n = P.x.length, labels = [], cur = frames[0].labels.slice();
    for (var f = 0; f < frames.length; f++) {
      var ch = frames[f].changes || [];
      for (var c = 0; c + 1 < ch.length; c += 2) { cur[ch[c]] = ch[c + 1]; }
      labels.push(cur.slice());
    }
    var xd = extent(P.x), yd = extent(P.y);
    var s = axes(fig, xd, yd, W, H, names[E.dims[0]], names[E.dims[1]]);
    var gp = el("g", {"class": "points"}, fig), dots = [];
    for (var i = 0; i < n; i++) {
      dots.push(el("circle", {cx: s[0](P.x[i]), cy: s[1](P.y[i]), r: 2.6,
                              "fill-opacity": 0.6}, gp));
    }
    var ge = el("g", {"class": "ellipses", fill: "none", "stroke-width": 2}, fig);
    draw = function (j) {
      var fr = frames[j], lab = labels[j], k, q;
      for (var i = 0; i < n; i++) { dots[i].setAttribute("fill", color(lab[i])); }
      while (ge.firstChild) { ge.removeChild(ge.firstChild); }
      for (k = 0; k < fr.ellipses.length; k++) {
        var e = fr.ellipses[k], th = e[4] * Math.PI / 180;
        var ux = Math.cos(th), uy = Math.sin(th);
        for (var sg = 1; sg <= 2; sg++) {
          var d = "";
          for (q = 0; q <= 64; q++) {
            var t = 2 * Math.PI * q / 64, a = sg * e[2] * Math.cos(t), b = sg * e[3] * Math.sin(t);
            d += (q ? "L" : "M") + s[0](e[0] + a * ux - b * uy).toFixed(1) + "," +
                 s[1](e[1] + a * uy + b * ux).toFixed(1);
          }
          el("path", {d: d + "Z", stroke: color(k), "stroke-dasharray": sg === 2 ? "6 4" : "",
                      "class": "ellipse"}, ge);
        }
        el("path", {d: "M" + (s[0](e[0]) - 6) + "," + s[1](e[1]) + "h12M" + s[0](e[0]) + "," +
                    (s[1](e[1]) - 6) + "v12", stroke: "#000", "stroke-width": 3}, ge);
      }
    };
  } else if (E.kind === "mixture1d") {
    var hist = E.hist, ed = hist.edges, dn = hist.density, peak = Math.max.apply(null, dn);
    frames.forEach(function (fr) {
      fr.components.forEach(function (c, k) {
        peak = Math.max(peak, fr.weights[k] / (c[1] * Math.sqrt(2 * Math.PI)));
      });
    });
    peak = Math.min(peak, 3 * Math.max.apply(null, dn));
    var xd1 = extent(ed), s1 = axes(fig, xd1, [0, 1.05 * peak], W, H, names[0], "density");
    for (var b = 0; b < dn.length; b++) {
      el("rect", {x: s1[0](ed[b]), y: s1[1](dn[b]), width: Math.max(s1[0](ed[b + 1]) -
         s1[0](ed[b]) - 0.5, 0.5), height: s1[1](0) - s1[1](dn[b]), fill: "#ddd"}, fig);
    }
    var gc = el("g", {"class": "ellipses", fill: "none", "stroke-width": 2}, fig);
    draw = function (j) {
      var fr = frames[j], g, k, m = 200, total = [];
      while (gc.firstChild) { gc.removeChild(gc.firstChild); }
      for (g = 0; g <= m; g++) { total.push(0); }
      for (k = 0; k < fr.components.length; k++) {
        var mu = fr.components[k][0], sd = fr.components[k][1], w = fr.weights[k], d = "";
        for (g = 0; g <= m; g++) {
          var x = xd1[0] + (xd1[1] - xd1[0]) * g / m, z = (x - mu) / sd;
          var y = w * Math.exp(-0.5 * z * z) / (sd * Math.sqrt(2 * Math.PI));
          total[g] += y;
          d += (g ? "L" : "M") + s1[0](x).toFixed(1) + "," +
               s1[1](Math.min(y, 1.05 * peak)).toFixed(1);
        }
        el("path", {d: d, stroke: color(k), "stroke-dasharray": "6 3"}, gc);
      }
      var dt = "";
      for (g = 0; g <= m; g++) {
        dt += (g ? "L" : "M") + s1[0](xd1[0] + (xd1[1] - xd1[0]) * g / m).toFixed(1) + "," +
              s1[1](Math.min(total[g], 1.05 * peak)).toFixed(1);
      }
      el("path", {d: dt, stroke: "#000"}, gc);
    };
  } else if (E.kind === "hmm") {
    var S = E.series, lo = extent(S.x), tl = extent(S.t);
    var sh = axes(fig, tl, lo, W, H, "frame", names[E.dims[0]]);
    var gb = el("g", {"class": "ellipses"}, fig), pts = "";
    for (var u = 0; u < S.t.length; u++) {
      pts += (u ? "L" : "M") + sh[0](S.t[u]).toFixed(1) + "," + sh[1](S.x[u]).toFixed(1);
    }
    el("path", {d: pts, fill: "none", stroke: "#bbb", "stroke-width": 1}, fig);
    var width = Math.max((W - M.l - M.r) / S.t.length, 0.6);
    for (u = 0; u < S.t.length; u++) {
      el("rect", {x: sh[0](S.t[u]), y: H - M.b - 8, width: width, height: 8,
                  fill: color(S.state[u])}, fig);
      el("circle", {cx: sh[0](S.t[u]), cy: sh[1](S.x[u]), r: 1.8, fill: color(S.state[u])}, fig);
    }
    var tm = document.getElementById("transmat");
    draw = function (j) {
      var fr = frames[j], k;
      while (gb.firstChild) { gb.removeChild(gb.firstChild); }
      for (k = 0; k < fr.bands.length; k++) {
        var band = fr.bands[k];
        if (!band) { continue; }
        var sd = band[1] === null ? 0 : band[1];
        el("rect", {x: M.l, width: W - M.l - M.r, y: sh[1](band[0] + sd),
                    height: Math.max(sh[1](band[0] - sd) - sh[1](band[0] + sd), 0),
                    fill: color(k), "fill-opacity": 0.15}, gb);
        el("path", {d: "M" + M.l + "," + sh[1](band[0]).toFixed(1) + "H" + (W - M.r),
                    stroke: color(k), "stroke-width": 2}, gb);
      }
      if (tm) {
        var rows = "<caption>Transition matrix at this step</caption>";
        fr.transmat.forEach(function (r, i) {
          rows += "<tr><th>" + (i + 1) + "</th>" + r.map(function (v) {
            return "<td>" + v.toFixed(3) + "</td>"; }).join("") + "</tr>";
        });
        tm.innerHTML = rows;
      }
    };
  } else {
    var ot = el("text", {x: W / 2, y: H / 2, "text-anchor": "middle", fill: "#555"}, fig);
    ot.textContent = "No picture for this model: see the log-likelihood below.";
    var pt = document.getElementById("step-params");
    draw = function (j) { if (pt) { pt.textContent = frames[j].params || ""; } };
  }
  // the log-likelihood of every step, the shown one marked
  var CW = 640, CH = 180, it = C.iteration, ll = C.loglik;
  var sc = axes(curve, extent(it), extent(ll), CW, CH, "iteration", "log-likelihood");
  var line = "";
  for (var q = 0; q < it.length; q++) {
    if (ll[q] === null) { continue; }
    line += (line ? "L" : "M") + sc[0](it[q]).toFixed(1) + "," + sc[1](ll[q]).toFixed(1);
  }
  el("path", {d: line, fill: "none", stroke: "#1f77b4", "stroke-width": 2}, curve);
  var marker = el("circle", {r: 5, fill: "#d62728", id: "current-step"}, curve);
  function show(j) {
    j = Math.max(0, Math.min(frames.length - 1, j | 0));
    draw(j);
    var i = frames[j].step, v = ll[i];
    marker.setAttribute("cx", sc[0](it[i]));
    marker.setAttribute("cy", v === null ? -10 : sc[1](v));
    fig.setAttribute("data-step", String(j));
    var g = C.gain[i];
    label.textContent = "iteration " + it[i] + " of " + it[it.length - 1] +
      " \u2014 log-likelihood " + (v === null ? "nan" : v.toFixed(4)) +
      (g === null ? " (start)" : " (gain " + (g >= 0 ? "+" : "") + g.toExponential(3) + ")") +
      (C.accelerated[i] ? ", SQUAREM step" : "");
  }
  slider.max = String(frames.length - 1);
  slider.value = String(frames.length - 1);
  slider.addEventListener("input", function () { stop(); show(+slider.value); });
  var timer = null;
  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; }
    play.textContent = "Play";
  }
  play.addEventListener("click", function () {
    if (timer !== null) { stop(); return; }
    if (+slider.value >= frames.length - 1) { slider.value = "0"; show(0); }
    play.textContent = "Pause";
    timer = setInterval(function () {
      var j = +slider.value + 1;
      if (j > frames.length - 1) { stop(); return; }
      slider.value = String(j);
      show(j);
    }, Math.max(40, Math.min(400, 6000 / frames.length)));
  });
  show(frames.length - 1);
})();
"""
