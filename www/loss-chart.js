// The Fine-tune page's loss chart: an inline SVG (no chart library) redrawn
// from the losses so far, one polyline point per training step, with the
// epochs marked and the loss of a uniform guess (ln of the label count) as a
// dashed reference line. `polyline.loss` carries the points the tests count.

const NS = "http://www.w3.org/2000/svg";
const W = 640, H = 220; // the viewBox; the SVG scales to its box
const PAD = { left: 42, right: 14, top: 12, bottom: 30 };

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The smallest of 1, 2, 2.5, 5 × a power of ten at or above `v`: the y axis's top. */
function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].find((m) => v <= m * p + 1e-12) * p;
}

/**
 * Draws into `root` (an `<svg>`): `losses` (one per step done), of `steps`
 * in all, `epochSteps` steps per epoch, `chance` the loss of a uniform guess
 * (or null). With no step yet it draws the empty axes and `placeholder`.
 */
export function drawLossChart(root, { losses = [], steps = 0, epochSteps = 0, chance = null, placeholder = "" } = {}) {
  const [x0, x1, y0, y1] = [PAD.left, W - PAD.right, H - PAD.bottom, PAD.top];
  const top = niceCeil(Math.max(0.1, chance ?? 0, ...losses.filter(Number.isFinite)));
  const n = Math.max(steps, losses.length, 1);
  const x = (step) => x0 + (n > 1 ? (step - 1) / (n - 1) : 0.5) * (x1 - x0);
  const y = (v) => y0 - (Math.min(Math.max(v, 0), top) / top) * (y0 - y1);
  const parts = [];

  // Horizontal grid with the loss scale.
  for (const v of [0, top / 2, top]) {
    parts.push(svg("line", { class: "grid", x1: x0, x2: x1, y1: y(v), y2: y(v) }));
    parts.push(svg("text", { x: x0 - 6, y: y(v) + 4, "text-anchor": "end" }, String(+v.toFixed(3))));
  }
  parts.push(svg("text", { x: 12, y: (y0 + y1) / 2, transform: `rotate(-90 12 ${(y0 + y1) / 2})`, "text-anchor": "middle" }, "loss"));

  // Epoch boundaries, and the step axis.
  const epochs = epochSteps > 0 ? Math.ceil(n / epochSteps) : 0;
  for (let e = 1; e < epochs; e++) {
    const at = (x(e * epochSteps) + x(e * epochSteps + 1)) / 2;
    parts.push(svg("line", { class: "epoch", x1: at, x2: at, y1: y1, y2: y0 }));
  }
  if (epochs > 1 && epochs <= 12) {
    for (let e = 1; e <= epochs; e++) {
      const mid = (x((e - 1) * epochSteps + 1) + x(Math.min(e * epochSteps, n))) / 2;
      parts.push(svg("text", { x: mid, y: y1 + 10, "text-anchor": "middle", class: "epoch-label" }, `e${e}`));
    }
  }
  parts.push(svg("text", { x: x0, y: H - 10, "text-anchor": "start" }, "step 1"));
  parts.push(svg("text", { x: x1, y: H - 10, "text-anchor": "end" }, `step ${n}`));

  if (chance !== null) {
    parts.push(svg("line", { class: "chance", x1: x0, x2: x1, y1: y(chance), y2: y(chance) }));
    parts.push(svg("text", { x: x1 - 4, y: y(chance) - 5, "text-anchor": "end", class: "chance-label" }, "a uniform guess"));
  }

  const points = losses.map((l, i) => `${x(i + 1).toFixed(1)},${y(l).toFixed(1)}`);
  parts.push(svg("polyline", { class: "loss", points: points.join(" "), "data-steps": losses.length }));
  if (losses.length) {
    const last = losses.length;
    parts.push(svg("circle", { class: "loss-now", cx: x(last), cy: y(losses[last - 1]), r: 3.5 }));
  } else if (placeholder) {
    parts.push(svg("text", { x: (x0 + x1) / 2, y: (y0 + y1) / 2, "text-anchor": "middle", class: "placeholder" }, placeholder));
  }
  root.replaceChildren(...parts);
}
